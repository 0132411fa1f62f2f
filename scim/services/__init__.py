"""The SCIM provider's domain operations: client registration and authentication
(``clients``), and the writes a SCIM call makes, each a request of the pipeline (``users``,
``groups``)."""

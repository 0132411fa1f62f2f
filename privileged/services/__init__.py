"""The privileged-access services: access groups (``groups``) and the access flow (``flow``)."""

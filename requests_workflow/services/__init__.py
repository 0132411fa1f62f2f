"""Request services. Import from the submodules:

* ``requests``: ``request_create`` (stages 1–2), ``request_cancel``;
* ``approvals``: ``approval_policy_match``, ``task_approve``, ``task_reject`` (stage 3);
* ``pipeline``: ``request_process`` (stages 3–5), ``request_provisioning_result``;
* ``timebound``: ``requests_start_due``, ``requests_notify_expiring``, ``requests_end_due``.
"""

"""Request and task pages: the workspace (catalog, cart, my requests, my tasks) and the console
(requests, queues, approval policies). Writes go through ``requests_workflow.services``."""

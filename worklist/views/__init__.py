"""Console pages of the worklist: calendars, task definitions (SLA) and escalation policies.
Their URLs stay under ``/console/requests/`` (namespace ``console_requests``), where they were
before the worklist app existed; ``requests_workflow/views/urls.py`` maps them."""

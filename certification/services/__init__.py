"""The certification services: policies (``policies``), campaigns and their eligibility
(``campaigns``) and the reviewers' decisions (``decisions``)."""

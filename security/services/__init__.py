"""Services of the security app: ``bruteforce`` (login throttling and locks) and ``sessions``
(the web-session index and its controls)."""

"""The resource-adapter runtime: a separate process, next to an application, that pulls
provisioning entries from the core over HTTPS (OAuth2 client credentials), keeps them in its
own SQLite journal, executes them through a connector (LDAP, CSV) with its own retry policy,
and reports the outcomes. Run it with ``python -m provisioning.adapter --config FILE``.

It never imports Django: it only speaks HTTP to the core (docs/adapters.md).
"""

"""The transactional outbox (see ``blazon.outbox.models`` and docs/deployment.md)."""

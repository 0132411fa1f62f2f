"""Adapter API v1 (``/api/v1/adapter/``): see ``views``."""

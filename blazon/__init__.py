"""Blazon project package: settings, URLs, Celery app and the shared kernel (audit, base models)."""

from .celery import app as celery_app

__all__ = ["celery_app"]

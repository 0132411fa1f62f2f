"""The Celery application.

Production: Redis broker (``CELERY_BROKER_URL``), a worker pool and exactly one beat.
Embedded default: no broker configured, so tasks run in-process (``task_always_eager``).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

app = Celery("blazon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

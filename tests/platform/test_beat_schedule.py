"""Every periodic job in the beat schedule names a task that the worker actually registers."""

from __future__ import annotations

from django.conf import settings

from blazon.celery import app


def registered_task_names() -> set[str]:
    # What a worker does at start-up: import every installed app's tasks module.
    app.loader.import_default_modules()
    app.autodiscover_tasks(force=True)
    return set(app.tasks.keys())


def test_beat_schedule_is_not_empty():
    assert settings.CELERY_BEAT_SCHEDULE
    assert app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE


def test_every_scheduled_task_is_registered():
    registered = registered_task_names()
    missing = {
        entry: spec["task"]
        for entry, spec in settings.CELERY_BEAT_SCHEDULE.items()
        if spec["task"] not in registered
    }
    assert not missing, f"beat entries naming unregistered tasks: {missing}"


def test_scheduled_tasks_follow_the_project_policy():
    """Periodic tasks come through ``blazon_task``: late acknowledgement, bounded retries."""
    registered_task_names()
    for spec in settings.CELERY_BEAT_SCHEDULE.values():
        task = app.tasks.get(spec["task"])
        if task is None:
            continue  # reported by test_every_scheduled_task_is_registered
        assert task.acks_late, spec["task"]
        assert task.max_retries is not None, spec["task"]

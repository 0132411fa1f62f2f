"""Read queries of the worklist shared by its pages and API."""

from __future__ import annotations

from worklist.models import Task
from worklist.registry import SubjectRef, subjects_resolve


def tasks_subjects_attach(tasks: list[Task]) -> list[Task]:
    """Load the subjects of ``tasks`` with one query per subject kind, so ``task.subject`` and
    ``task.subject_label`` read nothing more."""
    refs: set[SubjectRef] = {ref for ref in (task.subject_ref for task in tasks) if ref is not None}
    found = subjects_resolve(refs)
    for task in tasks:
        ref = task.subject_ref
        task.__dict__["_subject"] = found.get(ref) if ref is not None else None
    return tasks

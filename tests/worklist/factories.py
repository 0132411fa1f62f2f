"""Factories for worklist tests (the directory ones come from tests.api.factories)."""

from __future__ import annotations

import factory

from worklist.models import Queue


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue

    name = factory.Sequence(lambda n: f"Queue {n}")

"""Factories for request-pipeline tests (the directory ones come from tests.api.factories)."""

from __future__ import annotations

import factory

from requests_workflow.models import ApprovalLevel, ApprovalPolicy
from tests.worklist.factories import QueueFactory

__all__ = ["ApprovalLevelFactory", "ApprovalPolicyFactory", "QueueFactory"]


class ApprovalPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApprovalPolicy

    name = factory.Sequence(lambda n: f"Policy {n}")


class ApprovalLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApprovalLevel

    policy = factory.SubFactory(ApprovalPolicyFactory)
    position = 1
    mode = "ANY"
    approver_kind = "USERS"

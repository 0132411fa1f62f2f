"""Attribute-change certification policies (seed 002: "Políticas baseadas em Mudanças de
Atributos"): when a watched field of a user changes — from the console, the API, an import or
a reconciliation, all of which go through the directory's ``user_update`` — the user's eligible
accesses that the policy selects are put to review in a campaign of ``duration_days``, reviewed
as the policy says (by default the beneficiary's manager: the new one, since the change is
already saved). Plugged into the directory's ``user_changed`` port by ``CertificationConfig``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from blazon.errors import ValidationFailed
from certification.models import CertificationCampaign, CertificationPolicy, PolicyTrigger
from certification.services.campaigns import campaign_start, policy_scope
from certification.services.policies import monitorable
from directory.models import User, UserStatus


def user_changed(
    *, actor: User | None, source: str, user: User, changed: frozenset[str] | None = None
) -> None:
    """The directory's ``user_changed`` port."""
    campaigns_for_change(actor=actor, source=source, user=user, changed=changed)


def campaigns_for_change(
    *, actor: User | None, source: str, user: User, changed: frozenset[str] | None
) -> list[CertificationCampaign]:
    """A campaign per active attribute-change policy that
    watches one of the ``changed`` fields (none on a user's creation, nor for a user who is not
    ACTIVE). A policy that selects nothing of the user's starts nothing."""
    if not changed or user.status != UserStatus.ACTIVE:
        return []
    started = []
    labels = monitorable()
    policies = CertificationPolicy.objects.filter(active=True, trigger=PolicyTrigger.ATTRIBUTE_CHANGE)
    for policy in policies.order_by("code"):
        hit = [name for name in policy.monitored_attributes or [] if name in changed]
        if not hit:
            continue
        scope: dict[str, Any] = {**policy_scope(policy), "beneficiary": user.pk}
        what = ", ".join(labels.get(name, name).lower() for name in hit)
        now = timezone.now()
        try:
            with transaction.atomic():  # nothing eligible: this savepoint only is rolled back
                campaign = campaign_start(
                    actor=actor,
                    source=source,
                    name=f"{policy.name}: {user.username} ({what} changed)",
                    scope=scope,
                    starts_at=now,
                    ends_at=now + timedelta(days=policy.duration_days),
                    undecided_action=policy.undecided_action,
                )
        except ValidationFailed:
            continue
        CertificationCampaign.objects.filter(pk=campaign.pk).update(policy=policy)
        started.append(campaign)
    return started

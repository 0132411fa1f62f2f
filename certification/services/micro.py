"""Micro-certification (seed 002: "selecione um acesso para revalidação"): one access put to
review on demand, with a start and an end and what happens if nobody decides by then (keep or
revoke). It is a campaign of one item, so the reviewer page, the decisions, the end of the
campaign (the beat) and the report are the same as for any campaign."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from blazon.changes import field_error
from blazon.errors import ValidationFailed
from certification.models import CertificationCampaign, CertificationItem, ObjectKind, ReviewerKind
from certification.services.campaigns import campaign_start
from directory.models import (
    Account,
    AccountStatus,
    EntitlementMembership,
    Management,
    RoleMembership,
    RoleMembershipManagement,
    User,
    UserStatus,
)


def _why_not(kind: str, access: Any) -> str:
    """Why an access is not eligible, in words (the seed's rules, in the same order)."""
    if kind == ObjectKind.ACCOUNT:
        if access.owner_id is None:
            return "it is an orphan account (no owner to revoke it from)"
        if not access.resource.certifiable:
            return f"{access.resource.name} is not certifiable"
        if access.status != AccountStatus.ACTIVE:
            return f"the account is {access.get_status_display().lower()}"
        if access.management != Management.MANUAL:
            return "it is managed by a role: certify the role membership"
        active = CertificationItem.objects.filter(active=True, kind=ObjectKind.ACCOUNT, account=access)
    elif kind == ObjectKind.ENTITLEMENT:
        if not access.entitlement.certifiable:
            return f"{access.entitlement.name} is not certifiable"
        if access.account.status != AccountStatus.ACTIVE:
            return f"its account is {access.account.get_status_display().lower()}"
        if access.management != Management.MANUAL:
            return "it is managed by a role: certify the role membership"
        active = CertificationItem.objects.filter(active=True, membership_id=access.pk)
    else:
        if not access.role.certifiable:
            return f"role {access.role.name} is not certifiable"
        if access.user.status != UserStatus.ACTIVE:
            return f"{access.user.username} is {access.user.get_status_display().lower()}"
        if access.management != RoleMembershipManagement.MANUAL:
            return "it is managed by an assignment policy"
        active = CertificationItem.objects.filter(active=True, role_membership_id=access.pk)
    if active.exists():
        return "it is already under review in a running campaign"
    return "it is not eligible"


def _access(kind: str, access_id: int) -> Any:
    model: Any = (
        {
            ObjectKind.ACCOUNT: Account,
            ObjectKind.ENTITLEMENT: EntitlementMembership,
            ObjectKind.ROLE: RoleMembership,
        }.get(ObjectKind(kind))
        if kind in ObjectKind.values
        else None
    )
    if model is None:
        raise field_error("kind", _("One of %(value)s.") % {"value": ", ".join(ObjectKind.values)})
    related = {
        ObjectKind.ACCOUNT: ("resource", "owner"),
        ObjectKind.ENTITLEMENT: ("entitlement", "account", "account__resource", "account__owner"),
        ObjectKind.ROLE: ("role", "user"),
    }[ObjectKind(kind)]
    access = model.objects.select_related(*related).filter(pk=access_id).first()
    if access is None:
        raise field_error("access", _("No such %(value)s.") % {"value": ObjectKind(kind).label.lower()})
    return access


@transaction.atomic
def micro_certification_start(
    *,
    actor: Any,
    source: str,
    kind: str,
    access_id: int,
    ends_at: datetime,
    undecided_action: str,
    reviewer: User | None = None,
    starts_at: datetime | None = None,
) -> CertificationCampaign:
    """Put one access (``kind`` and its id) to review by ``reviewer`` (default: the
    beneficiary's manager) until ``ends_at``; at the end an undecided item is kept or revoked
    as ``undecided_action`` says. An access that is not eligible is refused with the reason."""
    access = _access(kind, access_id)
    if reviewer is not None and reviewer.status != UserStatus.ACTIVE:
        raise field_error("reviewer", _("%(username)s is not active.") % {"username": reviewer.username})
    label = (
        f"account {access}"
        if kind == ObjectKind.ACCOUNT
        else f"{access.entitlement} of {access.account.owner}"
        if kind == ObjectKind.ENTITLEMENT
        else f"role {access.role.name} of {access.user}"
    )
    scope = {
        "kinds": [kind],
        "access": access.pk,
        "reviewer_kind": ReviewerKind.USER if reviewer is not None else ReviewerKind.MANAGER,
        "reviewer_user": reviewer.pk if reviewer is not None else None,
    }
    try:
        return campaign_start(
            actor=actor,
            source=source,
            name=f"Micro-certification: {label}",
            scope=scope,
            starts_at=starts_at,
            ends_at=ends_at,
            undecided_action=undecided_action,
        )
    except ValidationFailed as error:
        if error.code != "empty_campaign":
            raise
        reason = _why_not(kind, access)
        raise ValidationFailed(
            _("%(access)s cannot be certified: %(reason)s.")
            % {"access": f"{label[0].upper()}{label[1:]}", "reason": reason},
            fields={"access": [reason]},
        ) from None

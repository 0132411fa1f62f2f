"""Rows a person decides: association conflicts (a tie is never a guess), orphan and rogue
accounts, leavers left to a person. Each is a ``ReconciliationCase`` with the source row and the
candidates side by side, and a worklist task of kind RECONCILIATION about it; deciding the task
applies the chosen one-click resolution through the directory's services."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from blazon.audit.services import audit_record
from blazon.errors import NotAllowed, TransitionNotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import Account, Source, User, UserStatus
from directory.services.access.reconciled import (
    account_owner_set,
    account_register_found,
    entitlement_register_found,
)
from directory.services.lifecycle import account_revoke, user_inactivate, user_revoke
from directory.services.users import user_create
from reconciliation.expressions import render
from reconciliation.models import (
    CaseStatus,
    ProfileKind,
    ReconciliationCase,
    ReconciliationLink,
    ReconciliationProfile,
    ReconciliationRun,
    RuleTarget,
    Situation,
    StagedRow,
)
from reconciliation.services.staging import rule_filter
from worklist.models import Task, TaskKind, TaskStatus
from worklist.registry import APPROVE, SubjectRef
from worklist.services import task_close, task_open

CASE_SUBJECT = "reconciliation_case"
MAX_CANDIDATES = 10
S = Situation

#: The one-click resolutions each kind of case offers (besides dismissing it).
RESOLUTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    ProfileKind.USERS: {
        S.CONFLICT: ("link",),
        S.NOT_FOUND: ("create", "link"),
        S.MISSING: ("inactivate", "revoke"),
    },
    ProfileKind.ACCOUNTS: {
        S.CONFLICT: ("link", "orphan", "revoke"),
        S.OWNER_MISMATCH: ("link", "orphan", "revoke"),
        S.ACCOUNT_NOT_FOUND_OWNER_FOUND: ("link", "orphan", "revoke"),
        S.ACCOUNT_FOUND_OWNER_NOT_FOUND: ("link", "orphan", "revoke"),
        S.ACCOUNT_OWNER_NOT_FOUND: ("link", "orphan", "revoke"),
        S.MISSING: ("revoke",),
    },
    ProfileKind.ENTITLEMENTS: {S.NOT_FOUND: ("create",), S.CONFLICT: ()},
}
RESOLUTION_LABELS = {
    "link": gettext_lazy("Link to this person"),
    "create": gettext_lazy("Create the user"),
    "inactivate": gettext_lazy("Inactivate the user"),
    "revoke": gettext_lazy("Revoke"),
    "orphan": gettext_lazy("Keep as an orphan account"),
}


def _candidates(profile: ReconciliationProfile, staged: StagedRow) -> list[int]:
    """The people the row could be (or own it): those the association rules find, else, for an
    account nobody owns, the users whose username or e-mail is the account's."""
    if profile.kind == ProfileKind.ENTITLEMENTS:
        return []
    people = User.objects.exclude(status=UserStatus.REMOVED)
    target = RuleTarget.OBJECT if profile.kind == ProfileKind.USERS else RuleTarget.OWNER
    for rule in profile.rules.filter(target=target):
        value = render(rule.value, staged.data)
        if value:
            ids = list(
                rule_filter(people, rule, value).order_by("pk").values_list("pk", flat=True)[:MAX_CANDIDATES]
            )
            if ids:
                return ids
    if profile.kind != ProfileKind.ACCOUNTS:
        return []
    mails = [v for v in staged.data.values() if isinstance(v, str) and "@" in v]
    q = Q(username__iexact=staged.key)
    for mail in mails[:3]:
        q |= Q(email__iexact=mail)
    return list(people.filter(q).order_by("pk").values_list("pk", flat=True)[:MAX_CANDIDATES])


def case_open(
    *, run: ReconciliationRun, profile: ReconciliationProfile, staged: StagedRow
) -> ReconciliationCase:
    """Open (or refresh) the case of a staged row and its task; one open case per source key."""
    account_id = staged.object_min if profile.kind == ProfileKind.ACCOUNTS else None
    data = {"row": staged.data, "values": staged.values}
    if profile.kind == ProfileKind.USERS and staged.situation == S.MISSING:
        data["user_id"] = staged.object_min
    candidates = [] if staged.situation == S.MISSING else _candidates(profile, staged)
    case = (
        ReconciliationCase.objects.select_for_update()
        .filter(profile=profile, key=staged.key, status=CaseStatus.OPEN)
        .first()
    )
    if case is not None:
        case.run, case.situation, case.data, case.candidates = run, staged.situation, data, candidates
        case.account_id = account_id
        case.save(update_fields=["run", "situation", "data", "candidates", "account"])
        return case
    case = ReconciliationCase.objects.create(
        profile=profile,
        run=run,
        situation=staged.situation,
        key=staged.key,
        data=data,
        account_id=account_id,
        candidates=candidates,
    )
    # the administrator who started the run resolves it from My tasks; a scheduled run's cases
    # wait in the console's Reconciliation cases for any administrator
    requester = run.requested_by
    task = task_open(
        kind=TaskKind.RECONCILIATION,
        title=f"{profile.name}: {case.get_situation_display().lower()} — {staged.key}",
        subject=SubjectRef(CASE_SUBJECT, case.pk),
        assignees=[requester] if requester is not None and can(requester, "manage_config") else [],
    )
    case.task = task
    case.save(update_fields=["task"])
    audit_record(
        actor=run.requested_by,
        action="reconciliation_case.opened",
        obj=case,
        new={"situation": case.situation, "key": case.key, "candidates": candidates, "task": task.pk},
        source=Source.RECONCILIATION,
    )
    return case


def _resolve(*, actor: User, case: ReconciliationCase, resolution: str, candidate: User | None) -> str:
    profile = case.profile
    values = dict(case.data.get("values") or {})
    row = dict(case.data.get("row") or {})
    src = Source.RECONCILIATION
    if profile.kind == ProfileKind.ENTITLEMENTS:  # "create": the only resolution besides dismissing
        assert profile.resource is not None
        entitlement_register_found(
            actor=actor, source=src, resource=profile.resource, identifier=case.key,
            name=values.get("name") or row.get("name") or case.key, description=values.get("description", ""),
        )  # fmt: skip
        return f"entitlement {case.key} recorded"
    if profile.kind == ProfileKind.USERS:
        if resolution == "link":
            assert candidate is not None
            ReconciliationLink.objects.filter(profile=profile).filter(
                Q(key=case.key) | Q(user=candidate)
            ).delete()
            ReconciliationLink.objects.create(profile=profile, key=case.key, user=candidate)
            return f"linked to {candidate.username}"
        if resolution == "create":
            data = {k: v for k, v in values.items() if not k.startswith("attributes.")}
            attrs = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("attributes.")}
            user = user_create(
                actor=actor, source=src, data={**data, **({"attributes": attrs} if attrs else {})}
            )
            ReconciliationLink.objects.filter(profile=profile, key=case.key).delete()
            ReconciliationLink.objects.create(profile=profile, key=case.key, user=user)
            return f"created {user.username}"
        user = User.objects.get(pk=case.data["user_id"])
        (user_inactivate if resolution == "inactivate" else user_revoke)(actor=actor, source=src, user=user)
        return f"{resolution}d {user.username}"
    account = Account.objects.filter(pk=case.account_id).first() if case.account_id else None
    resource = profile.resource
    assert resource is not None
    if resolution == "link":
        assert candidate is not None
        if account is None:
            account = account_register_found(
                actor=actor, source=src, resource=resource, identifier=case.key, owner=candidate,
                attributes=_attrs(values), enabled=row.get("enabled", "true") != "false",
            )  # fmt: skip
        else:
            account_owner_set(actor=actor, source=src, account=account, owner=candidate)
        return f"{account.identifier} linked to {candidate.username}"
    if account is None:
        account = account_register_found(
            actor=actor, source=src, resource=resource, identifier=case.key, attributes=_attrs(values),
            enabled=row.get("enabled", "true") != "false",
        )  # fmt: skip
    elif resolution == "orphan":
        account_owner_set(actor=actor, source=src, account=account, owner=None)
    if resolution == "revoke":
        account_revoke(actor=actor, source=src, account=account)
        return f"{account.identifier} revoked"
    return f"{account.identifier} kept as an orphan"


def _attrs(values: dict[str, Any]) -> dict[str, Any]:
    return {(k.split(".", 1)[1] if k.startswith("attributes.") else k): v for k, v in values.items()}


@transaction.atomic
def case_resolve(
    *,
    actor: User,
    source: str,
    case: ReconciliationCase,
    resolution: str,
    candidate: Any = None,
    comment: str = "",
) -> ReconciliationCase:
    """Apply a one-click resolution to an open case (``dismiss``: nothing changes) and close
    its task."""
    case = (
        ReconciliationCase.objects.select_for_update(of=("self",))
        .select_related("profile", "profile__resource")
        .get(pk=case.pk)
    )
    if case.status != CaseStatus.OPEN:
        raise TransitionNotAllowed(
            _("This case is already resolved (%(resolution)s).") % {"resolution": case.resolution}
        )
    task = Task.objects.select_for_update().filter(pk=case.task_id).first() if case.task_id else None
    assignees = set(task.assignees.values_list("pk", flat=True)) if task is not None else set()
    if not (can(actor, "manage_config") or actor.pk in assignees):
        raise NotAllowed(_("Only an administrator or the task's assignee may resolve this case."))
    offered = RESOLUTIONS.get(case.profile.kind, {}).get(case.situation, ())
    if resolution != "dismiss" and resolution not in offered:
        raise ValidationFailed(
            _("Resolve this case with one of: %(value)s.") % {"value": ", ".join((*offered, "dismiss"))},
            fields={"resolution": [_("Not offered for this case.")]},
        )
    chosen: User | None = None
    if resolution == "link":
        pk = candidate.pk if isinstance(candidate, User) else candidate
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise ValidationFailed(
                _("Choose the person to link."), fields={"candidate": [_("Required.")]}
            ) from None
        chosen = User.objects.exclude(status=UserStatus.REMOVED).filter(pk=pk).first()
        if chosen is None:
            raise ValidationFailed(_("No such user to link."), fields={"candidate": [_("Unknown user.")]})
    outcome = (
        "dismissed"
        if resolution == "dismiss"
        else _resolve(actor=actor, case=case, resolution=resolution, candidate=chosen)
    )
    case.status, case.resolution, case.resolved_at = CaseStatus.RESOLVED, outcome[:200], timezone.now()
    case.save(update_fields=["status", "resolution", "resolved_at"])
    if task is not None and task.status == TaskStatus.OPEN:
        status = TaskStatus.REJECTED if resolution == "dismiss" else TaskStatus.APPROVED
        task_close(task=task, status=status, actor=actor, comment=comment or outcome)
    audit_record(
        actor=actor,
        action="reconciliation_case.resolved",
        obj=case,
        old={"status": CaseStatus.OPEN},
        new={"status": CaseStatus.RESOLVED, "resolution": outcome},
        source=source,
    )
    return case


def case_task_decide(
    *, actor: User, source: str, task: Task, decision: str, comment: str = "", **details: Any
) -> Task:
    """The worklist's decision on a reconciliation task: approve applies ``resolution`` (with
    ``candidate``), reject dismisses the case."""
    case = ReconciliationCase.objects.filter(task_id=task.pk).first()
    if case is None:
        raise ValidationFailed(_("This reconciliation task is about no case."))
    if decision == APPROVE:
        resolution = str(details.get("resolution") or "")
        if not resolution:
            raise ValidationFailed(_("Choose a resolution."), fields={"resolution": [_("Required.")]})
    else:
        resolution = "dismiss"
    case_resolve(
        actor=actor,
        source=source,
        case=case,
        resolution=resolution,
        candidate=details.get("candidate"),
        comment=comment,
    )
    task.refresh_from_db()
    return task

"""Access groups: create, change and delete, each audited through the config-write helper.

Members, credentials, notified people and level approvers are given as references, the same in
the console, the API and the demo: members ``user:<username>``, ``organization:<code>``,
``role:<code>``; credentials ``<resource code>/<account identifier>``; people by username;
queues by name. Refused with a message naming the reference: an unknown one, a regular account
as a credential, approval required without levels (or levels without approval), a level of named
users without users, a queue level without a queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.changes import config_create, config_delete, config_update
from blazon.errors import Conflict, ValidationFailed
from directory.models import Account, Organization, Role, User
from privileged.models import CREDENTIAL_TYPES, AccessGroup, AccessGroupLevel, AccessStatus, LevelApprover
from worklist.models import ApprovalMode, Queue

GROUP_FIELDS = (
    "code",
    "name",
    "description",
    "active",
    "justification_required",
    "approval_required",
    "max_window_minutes",
    "governance_code_required",
    "emergency_allowed",
    "itsm",
)
#: The longest window any group may allow: 30 days.
MAX_WINDOW_LIMIT = 30 * 24 * 60
MAX_LEVELS = 5


@dataclass(frozen=True)
class GroupRefs:
    """References resolved to objects."""

    users: list[User]
    organizations: list[Organization]
    roles: list[Role]
    credentials: list[Account]
    notify: list[User]
    levels: list[dict[str, Any]]


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _users(names: Iterable[str], field: str) -> list[User]:
    wanted = [str(n).strip() for n in names if str(n).strip()]
    found = {u.username: u for u in User.objects.filter(username__in=wanted)}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise _fail(field, _("Unknown user(s): %(value)s.") % {"value": ", ".join(missing[:10])})
    return [found[n] for n in dict.fromkeys(wanted)]


def _members(refs: Iterable[str]) -> tuple[list[User], list[Organization], list[Role]]:
    by_kind: dict[str, list[str]] = {"user": [], "organization": [], "role": []}
    for ref in refs:
        kind, sep, value = str(ref).strip().partition(":")
        kind = {"org": "organization"}.get(kind.strip().lower(), kind.strip().lower())
        if not sep or kind not in by_kind or not value.strip():
            raise _fail(
                "members",
                _("%(ref)r is not a member: use user:<username>, organization:<code> or role:<code>.")
                % {"ref": ref},
            )
        by_kind[kind].append(value.strip())
    users = _users(by_kind["user"], "members")
    orgs = {o.code: o for o in Organization.objects.filter(code__in=by_kind["organization"])}
    roles = {r.code: r for r in Role.objects.filter(code__in=by_kind["role"])}
    missing = [f"organization:{c}" for c in by_kind["organization"] if c not in orgs]
    missing += [f"role:{c}" for c in by_kind["role"] if c not in roles]
    if missing:
        raise _fail("members", _("Unknown member(s): %(value)s.") % {"value": ", ".join(missing[:10])})
    return (
        users,
        [orgs[c] for c in dict.fromkeys(by_kind["organization"])],
        [roles[c] for c in dict.fromkeys(by_kind["role"])],
    )


def _credentials(refs: Iterable[str]) -> list[Account]:
    found: list[Account] = []
    for ref in dict.fromkeys(str(r).strip() for r in refs if str(r).strip()):
        code, sep, identifier = ref.partition("/")
        account = (
            Account.objects.select_related("resource")
            .filter(resource__code=code, identifier=identifier)
            .first()
            if sep
            else None
        )
        if account is None:
            raise _fail(
                "credentials",
                _("No account %(ref)r: use <resource code>/<account identifier>.") % {"ref": ref},
            )
        if account.account_type not in CREDENTIAL_TYPES:
            raise _fail(
                "credentials",
                _(
                    "%(ref)s is a %(account_type)s account: only administrative, "
                    "application and shared accounts are privileged credentials."
                )
                % {"ref": ref, "account_type": account.get_account_type_display().lower()},
            )
        found.append(account)
    return found


def _levels(levels: Sequence[dict[str, Any]], *, approval_required: bool) -> list[dict[str, Any]]:
    if approval_required and not levels:
        raise _fail("levels", _("Approval is required: give at least one approval level."))
    if not approval_required and levels:
        raise _fail("levels", _("Approval is not required: a group without approval has no levels."))
    if len(levels) > MAX_LEVELS:
        raise _fail("levels", _("At most %(MAX_LEVELS)s approval levels.") % {"MAX_LEVELS": MAX_LEVELS})
    out: list[dict[str, Any]] = []
    for n, level in enumerate(levels, start=1):
        kind = str(level.get("approver_kind") or "")
        mode = str(level.get("mode") or ApprovalMode.ANY)
        if kind not in LevelApprover.values:
            raise _fail(
                "levels",
                _("Level %(n)s: approvers must be one of %(value)s.")
                % {"n": n, "value": ", ".join(LevelApprover.values)},
            )
        if mode not in ApprovalMode.values:
            raise _fail("levels", _("Level %(n)s: the mode must be ANY or ALL.") % {"n": n})
        users = _users(level.get("users") or [], "levels") if kind == LevelApprover.USERS else []
        queue = None
        if kind == LevelApprover.USERS and not users:
            raise _fail("levels", _("Level %(n)s: name at least one approver.") % {"n": n})
        if kind == LevelApprover.QUEUE:
            queue = Queue.objects.filter(name=str(level.get("queue") or "")).first()
            if queue is None:
                raise _fail(
                    "levels",
                    _("Level %(n)s: no queue named %(value)r.") % {"n": n, "value": level.get("queue")},
                )
        out.append({"position": n, "approver_kind": kind, "mode": mode, "users": users, "queue": queue})
    return out


def _validate(data: dict[str, Any]) -> None:
    window = data.get("max_window_minutes")
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= MAX_WINDOW_LIMIT:
        raise _fail(
            "max_window_minutes",
            _("The maximum window is a number of minutes from 1 to %(MAX_WINDOW_LIMIT)s.")
            % {"MAX_WINDOW_LIMIT": MAX_WINDOW_LIMIT},
        )
    if not str(data.get("code") or "").strip():
        raise _fail("code", _("A code is required."))
    if not str(data.get("name") or "").strip():
        raise _fail("name", _("A name is required."))


def _refs(data: dict[str, Any]) -> GroupRefs:
    users, orgs, roles = _members(data.get("members") or [])
    return GroupRefs(
        users=users,
        organizations=orgs,
        roles=roles,
        credentials=_credentials(data.get("credentials") or []),
        notify=_users(data.get("notify") or [], "notify"),
        levels=_levels(list(data.get("levels") or []), approval_required=bool(data.get("approval_required"))),
    )


def levels_refs(group: AccessGroup) -> list[dict[str, Any]]:
    return [
        {
            "position": lv.position,
            "approver_kind": lv.approver_kind,
            "mode": lv.mode,
            "users": sorted(u.username for u in lv.users.all()),
            "queue": lv.queue.name if lv.queue else None,
        }
        for lv in group.levels.select_related("queue").prefetch_related("users").order_by("position")
    ]


def relations_refs(group: AccessGroup) -> dict[str, Any]:
    """Members, credentials, notified people and levels as references (for the audit diff)."""
    if group.pk is None:
        return {"members": [], "credentials": [], "notify": [], "levels": []}
    return {
        "members": sorted(
            [f"user:{u}" for u in group.member_users.values_list("username", flat=True)]
            + [f"organization:{c}" for c in group.member_organizations.values_list("code", flat=True)]
            + [f"role:{c}" for c in group.member_roles.values_list("code", flat=True)]
        ),
        "credentials": sorted(
            f"{a.resource.code}/{a.identifier}" for a in group.credentials.select_related("resource")
        ),
        "notify": sorted(group.notify_users.values_list("username", flat=True)),
        "levels": levels_refs(group),
    }


def _apply_relations(group: AccessGroup, refs: GroupRefs) -> None:
    group.member_users.set(refs.users)
    group.member_organizations.set(refs.organizations)
    group.member_roles.set(refs.roles)
    group.credentials.set(refs.credentials)
    group.notify_users.set(refs.notify)
    group.levels.all().delete()
    for spec in refs.levels:
        level = AccessGroupLevel.objects.create(
            group=group,
            position=spec["position"],
            approver_kind=spec["approver_kind"],
            mode=spec["mode"],
            queue=spec["queue"],
        )
        level.users.set(spec["users"])


def _audit_names(refs: dict[str, Any]) -> dict[str, Any]:
    """The audit log hides values under keys naming credentials: the accounts are not secret."""
    return {("accounts" if k == "credentials" else k): v for k, v in refs.items()}


_CONFLICT = "An access group with this code already exists."


@transaction.atomic
def access_group_create(*, actor: Any, source: str, **data: Any) -> AccessGroup:
    """A new access group with its members, credentials, levels and notified people."""
    data.setdefault("max_window_minutes", 240)
    data.setdefault("approval_required", True)
    _validate(data)
    refs = _refs(data)
    group = AccessGroup(**{k: data[k] for k in GROUP_FIELDS if k in data})
    group = config_create(
        group,
        fields=GROUP_FIELDS,
        actor=actor,
        source=source,
        action="privileged.group.created",
        conflict=_CONFLICT,
        conflict_field="code",
        validate=True,
        on_saved=lambda g: _apply_relations(g, refs),
    )
    audit_record(
        actor=actor,
        action="privileged.group.relations_set",
        obj=group,
        new=_audit_names(relations_refs(group)),
        source=source,
    )
    return group


@transaction.atomic
def access_group_update(*, actor: Any, source: str, group: AccessGroup, data: dict[str, Any]) -> AccessGroup:
    """Change a group (fields left out stay). Running requests keep the rule they were made under."""
    current = {k: getattr(group, k) for k in GROUP_FIELDS}
    merged = {**current, **{k: v for k, v in data.items() if k in GROUP_FIELDS}}
    before = relations_refs(group)
    for key in ("members", "credentials", "notify", "levels"):
        merged[key] = data[key] if key in data else before[key]
    _validate(merged)
    refs = _refs(merged)
    with config_update(
        AccessGroup,
        group.pk,
        fields=GROUP_FIELDS,
        actor=actor,
        source=source,
        action="privileged.group.updated",
        conflict=_CONFLICT,
        conflict_field="code",
        validate=True,
    ) as change:
        for key in GROUP_FIELDS:
            setattr(change.obj, key, merged[key])
        _apply_relations(change.obj, refs)
        after = relations_refs(change.obj)
        changed = [k for k, v in after.items() if v != before[k]]
        change.after = _audit_names({k: after[k] for k in changed})
        change.before.update(_audit_names({k: before[k] for k in changed}))
    return change.obj


@transaction.atomic
def access_group_delete(*, actor: Any, source: str, group: AccessGroup) -> None:
    """Delete a group with no live request (pending or approved): those must end first."""
    locked = AccessGroup.objects.select_for_update().get(pk=group.pk)
    live = locked.requests.filter(status__in=[AccessStatus.PENDING, AccessStatus.APPROVED]).count()
    if live:
        raise Conflict(
            _(
                "%(live)s request(s) under this group are pending or approved: let them end or revoke them first."
            )
            % {"live": live}
        )
    config_delete(
        locked,
        fields=GROUP_FIELDS,
        actor=actor,
        source=source,
        action="privileged.group.deleted",
        extra=_audit_names(relations_refs(locked)),
    )

"""``manage.py load_demo`` builds a believable company (issue #2 §7): departments with managers,
roles fanned out to their members, orphan/shared/administrative/temporary accounts, console
logins — and running it twice changes nothing."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count
from django.test import Client

from blazon.audit.models import AuditEvent
from directory.models import (
    Account,
    AccountType,
    ConsoleRole,
    EntitlementMembership,
    Management,
    Organization,
    Resource,
    Role,
    RoleChange,
    RoleMembership,
    SharedAccountMember,
    User,
    UserStatus,
)
from requests_workflow.models import ApprovalPolicy, Request, RequestStatus
from sod.models import AssignmentPolicy
from worklist.models import Task

pytestmark = pytest.mark.django_db


def load(users=40, seed=7) -> str:
    out = StringIO()
    call_command("load_demo", users=users, seed=seed, stdout=out, stderr=out)
    return out.getvalue()


def shape() -> dict:
    return {
        "users": sorted(User.objects.values_list("username", flat=True)),
        "accounts": Account.objects.count(),
        "memberships": EntitlementMembership.objects.count(),
        "roles": RoleMembership.objects.count(),
    }


def test_the_demo_company(postgres):
    output = load()
    assert "Demo company loaded" in output
    assert "warning" not in output
    assert User.objects.count() == 40 + 3  # employees + admin, helpdesk, auditor
    assert Resource.objects.count() == 10 + 1  # + the production database (privileged access)
    assert Organization.objects.filter(parent__code="atlantico").count() == 8
    # people have managers, departments and the attribute schema filled in
    staff = User.objects.exclude(username__in=["admin", "helpdesk", "auditor"])
    assert staff.filter(manager__isnull=True).count() == 1  # the CEO
    assert not staff.filter(department="").exists()
    assert all(u.attributes["employee_id"].startswith("E") for u in staff)
    assert any(any(ord(c) > 127 for c in u.first_name + u.last_name) for u in staff)
    # every member of a department role got the role's accounts and groups through the fan-out
    eng = Role.objects.get(code="engineering-staff")
    members = RoleMembership.objects.filter(role=eng).values_list("user", flat=True)
    assert members
    github = Account.objects.filter(resource__code="github", owner__in=members)
    active_members = User.objects.filter(pk__in=members, status=UserStatus.ACTIVE)
    assert (
        github.filter(management=Management.ROLE, owner__in=active_members).count() == active_members.count()
    )
    assert (
        EntitlementMembership.objects.filter(
            account__in=github, entitlement__identifier="developers", management=Management.ROLE
        ).count()
        == github.count()
    )
    # manual grants outside the roles
    assert EntitlementMembership.objects.filter(manual=True, management=Management.MANUAL).exists()
    # special accounts
    assert (
        Account.objects.filter(owner__isnull=True, account_type=AccountType.REGULAR).count() >= 5
    )  # orphans
    shared = Account.objects.filter(account_type=AccountType.SHARED)
    assert shared.count() == 2 + 1 and SharedAccountMember.objects.filter(account__in=shared).exists()
    assert not Account.objects.filter(
        account_type=AccountType.ADMINISTRATIVE, responsible__isnull=True
    ).exists()
    assert (
        Account.objects.filter(account_type=AccountType.ADMINISTRATIVE).count() == 4 + 1
    )  # + proddb postgres
    assert Account.objects.filter(is_temporary=True, expires_at__isnull=False).count() == 1
    # some people on leave or gone, through the life-cycle services
    assert staff.filter(status=UserStatus.INACTIVE).exists()
    assert staff.filter(status=UserStatus.REVOKED).exists()
    # the story is in the audit log: every employee but the CEO was given their department's
    # role; revoking a user took their role memberships away again
    granted = AuditEvent.objects.filter(action="role_membership.granted").count()
    assert granted == 40 - 1
    assert RoleMembership.objects.count() == granted - staff.filter(status=UserStatus.REVOKED).count()
    # role governance (issue 15): a birthright policy per department, whose people already hold
    # its role; a role change waiting for the finance head (the role's owner)
    assert AssignmentPolicy.objects.count() == Organization.objects.filter(parent__code="atlantico").count()
    waiting = RoleChange.objects.get(status="WAITING")
    assert waiting.role.code == "finance-staff"
    assert list(Task.objects.get(kind="ROLE_CHANGE", status="OPEN").assignees.all()) == [waiting.role.owner]


def test_console_logins():
    load(users=30)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.console_role == ConsoleRole.ADMINISTRATOR
    assert User.objects.get(username="helpdesk").console_role == ConsoleRole.HELPDESK
    assert User.objects.get(username="auditor").console_role == ConsoleRole.AUDITOR
    assert Client().login(username="admin", password="blazon-admin-demo")
    assert Client().login(username="auditor", password="blazon-demo-user")
    employee = (
        User.objects.exclude(username__in=["admin", "helpdesk", "auditor"]).filter(status="ACTIVE").first()
    )
    assert Client().login(username=employee.username, password="blazon-demo-user")
    assert not Client().login(username="admin", password="wrong password")


def test_the_logins_printed_at_the_end_work():
    """Issue 12, item 24: the text said the help desk and the auditor sign in with the
    administrator's password; every login it prints must work as printed."""
    output = load(users=30)
    logins = re.findall(r"^  (?:console|workspace): (.+?) / (\S+)$", output, flags=re.MULTILINE)
    assert len(logins) == 3, output
    printed = {}
    for who, password in logins:
        for username in re.split(r",\s*", who):
            printed[username] = password
    assert printed["helpdesk"] == printed["auditor"] == "blazon-demo-user"
    assert printed["admin"] == "blazon-admin-demo"
    for username in ("admin", "helpdesk", "auditor"):
        assert Client().login(username=username, password=printed[username]), username
    bin_run = (settings.BASE_DIR / "bin" / "run").read_text()
    assert re.search(r"helpdesk, auditor\s+password: \$\{BLAZON_DEMO_PASSWORD:-blazon-demo-user\}", bin_run)


def test_running_twice_changes_nothing():
    load(users=30)
    before, events = shape(), AuditEvent.objects.count()
    assert "already loaded" in load(users=30)
    assert shape() == before
    assert AuditEvent.objects.count() == events


class _Rollback(Exception):
    pass


def _shape_of_a_load(seed: int) -> dict:
    """Load inside a savepoint, note the result, and roll it back."""
    result: dict = {}
    try:
        with transaction.atomic():
            load(users=30, seed=seed)
            result = shape()
            raise _Rollback
    except _Rollback:
        pass
    assert not User.objects.exists()
    return result


def test_same_seed_same_company():
    first, again, other = _shape_of_a_load(3), _shape_of_a_load(3), _shape_of_a_load(4)
    assert first == again
    assert first["users"] != other["users"]


def test_too_few_users_is_refused():
    with pytest.raises(CommandError, match="at least 30"):
        load(users=29)
    assert not User.objects.exists()


def test_the_demo_has_requests_waiting_for_approvers_and_a_few_manual_tasks(
    postgres, django_capture_on_commit_callbacks
):
    """Issue 13 item 10: approval policies exist and several people have a request to decide in
    My tasks; the manual resources give their owners a handful of tasks, not hundreds."""
    with django_capture_on_commit_callbacks(execute=True):
        output = load(users=60, seed=3)
    assert ApprovalPolicy.objects.filter(levels__isnull=False).distinct().count() == 3
    waiting = Request.objects.filter(status=RequestStatus.WAITING_APPROVAL, source="workspace")
    assert waiting.count() >= 4
    approvers = set(
        Task.objects.filter(kind="APPROVAL", status="OPEN").values_list("assignees__username", flat=True)
    )
    assert len(approvers) >= 3
    assert "warning" not in output
    per_person = (
        Task.objects.filter(kind="PROVISIONING", status="OPEN")
        .values("assignees")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    assert per_person and max(per_person) <= 20

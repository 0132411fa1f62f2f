"""User and account life cycle (seed 002 "Ciclo de vida do usuário", "Contas"): the transition
table with its sources, the cascades on activation, inactivation, revocation and removal, the
login lock, and accounts following their owner."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from blazon.errors import Conflict, TransitionNotAllowed
from directory.models import (
    Account,
    AccountRoleGrant,
    AccountStatus,
    AccountType,
    DirectoryEvent,
    DirectoryEventKind,
    DirectoryEventStatus,
    Entitlement,
    EntitlementMembership,
    Management,
    Organization,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
    Role,
    RoleChange,
    RoleMembership,
    RoleMembershipManagement,
    SharedAccountMember,
    Source,
    User,
    UserStatus,
    default_provisioning_modes,
)
from directory.services import access, lifecycle
from directory.views.forms import LoginForm
from provisioning.models import ProvisioningEntry
from vault.models import AdministrativeCheckout, CheckoutStatus

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)

ACTIVE, INACTIVE, REVOKED, REMOVED = (
    UserStatus.ACTIVE,
    UserStatus.INACTIVE,
    UserStatus.REVOKED,
    UserStatus.REMOVED,
)
TARGET = {
    ACTIVE: lifecycle.user_activate,
    INACTIVE: lifecycle.user_inactivate,
    REVOKED: lifecycle.user_revoke,
    REMOVED: lifecycle.user_remove,
}


def make_user(status=ACTIVE, **kw) -> User:
    n = next(_seq)
    return User.objects.create(
        username=kw.pop("username", f"lc{n}"), first_name="Lc", last_name=str(n), status=status, **kw
    )


def make_resource(code=None, mode=ProvisioningMode.AUTOMATIC) -> Resource:
    code = code or f"res{next(_seq)}"
    modes = {k: mode for k in default_provisioning_modes()}
    return Resource.objects.create(code=code, name=code.title(), provisioning_modes=modes)


def account(resource, owner=None, **kw) -> Account:
    kw.setdefault("identifier", f"{owner.username if owner else 'acc'}-{next(_seq)}")
    status = kw.pop("status", AccountStatus.ACTIVE)
    return Account.objects.create(resource=resource, owner=owner, status=status, **kw)


def entries(**kw):
    return ProvisioningEntry.objects.filter(**kw)


def snapshot(user):
    user.refresh_from_db()
    return (
        user.status,
        user.login_locked,
        sorted(Account.objects.filter(owner=user).values_list("pk", "status")),
        RoleMembership.objects.filter(user=user).count(),
        AuditEvent.objects.count(),
        ProvisioningEntry.objects.count(),
        DirectoryEvent.objects.count(),
    )


# ---------------------------------------------------------------------------------------------
# The transition table
# ---------------------------------------------------------------------------------------------

ALLOWED = [
    (frm, to, src) for (frm, to), sources in lifecycle.USER_TRANSITIONS.items() for src in sorted(sources)
]


@pytest.mark.parametrize(("frm", "to", "source"), ALLOWED)
def test_every_transition_of_the_table_is_allowed_from_its_sources(frm, to, source):
    user = make_user(status=frm)
    result = TARGET[to](actor=None, source=source, user=user)
    user.refresh_from_db()
    assert user.status == to == result.status
    assert user.status_changed_at is not None
    last = (
        AuditEvent.objects.filter(object_type="directory.User", object_id=str(user.pk))
        .order_by("-seq")
        .first()
    )
    assert last.action == {
        ACTIVE: "user.activated",
        INACTIVE: "user.inactivated",
        REVOKED: "user.revoked",
    }.get(to, "user.removed")
    assert last.source == source
    assert audit_verify().ok


FORBIDDEN_PAIRS = [
    (frm, to)
    for frm in UserStatus.values
    for to in UserStatus.values
    if frm != to and (frm, to) not in lifecycle.USER_TRANSITIONS
]


@pytest.mark.parametrize(("frm", "to"), FORBIDDEN_PAIRS)
def test_transitions_outside_the_table_are_refused_and_change_nothing(frm, to):
    user = make_user(status=frm)
    res = make_resource()
    account(res, owner=user, status=AccountStatus.ACTIVE if frm == ACTIVE else AccountStatus.INACTIVE)
    before = snapshot(user)
    with pytest.raises(TransitionNotAllowed) as exc:
        TARGET[to](actor=None, source=Source.CONSOLE, user=user)
    assert f"from {frm} to {to}" in exc.value.message
    assert "console" in exc.value.message
    if frm == REMOVED:
        assert "REMOVED is final" in exc.value.message
    assert snapshot(user) == before


FORBIDDEN_SOURCES = [
    (frm, to, src)
    for (frm, to), sources in lifecycle.USER_TRANSITIONS.items()
    for src in Source.values
    if src not in sources
]


@pytest.mark.parametrize(("frm", "to", "source"), FORBIDDEN_SOURCES)
def test_a_transition_from_a_source_the_table_does_not_list_is_refused(frm, to, source):
    user = make_user(status=frm)
    account(make_resource(), owner=user)
    before = snapshot(user)
    with pytest.raises(TransitionNotAllowed) as exc:
        TARGET[to](actor=None, source=source, user=user)
    assert f"from {frm} to {to} from source {source}" in exc.value.message
    assert "allowed sources" in exc.value.message
    assert snapshot(user) == before


def test_an_unknown_source_is_refused():
    user = make_user(status=INACTIVE)
    before = snapshot(user)
    with pytest.raises(TransitionNotAllowed, match="Unknown source 'cron'"):
        lifecycle.user_activate(actor=None, source="cron", user=user)
    assert snapshot(user) == before


def test_moving_to_the_current_status_does_nothing():
    user = make_user(status=INACTIVE)
    before = snapshot(user)
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=user)
    assert snapshot(user) == before


# ---------------------------------------------------------------------------------------------
# Cascades
# ---------------------------------------------------------------------------------------------


def test_inactivation_inactivates_regular_and_temporary_accounts_with_provisioning():
    admin = make_user(username="admin-inact")
    user = make_user()
    auto, manual, disabled = (
        make_resource(mode=ProvisioningMode.AUTOMATIC),
        make_resource(mode=ProvisioningMode.MANUAL),
        make_resource(mode=ProvisioningMode.DISABLED),
    )
    a1 = account(auto, owner=user)
    a2 = account(manual, owner=user)
    a3 = account(disabled, owner=user)
    temp = account(
        make_resource(), owner=user, is_temporary=True, expires_at=timezone.now() + timedelta(days=3)
    )
    other = account(auto, owner=make_user())
    shared = account(auto, account_type=AccountType.SHARED, responsible=user)
    admin_acc = account(auto, account_type=AccountType.ADMINISTRATIVE)
    checkout = AdministrativeCheckout.objects.create(account=admin_acc, user=user)

    lifecycle.user_inactivate(actor=admin, source=Source.CONSOLE, user=user)

    user.refresh_from_db()
    assert user.status == INACTIVE and user.inactive_since is not None
    statuses = dict(Account.objects.values_list("pk", "status"))
    assert {statuses[a.pk] for a in (a1, a2, a3, temp)} == {AccountStatus.INACTIVE}
    assert statuses[other.pk] == statuses[shared.pk] == AccountStatus.ACTIVE
    inact = entries(event_type=ProvisioningEvent.INACTIVATE_ACCOUNT)
    assert set(inact.values_list("account_id", flat=True)) == {a1.pk, a2.pk, temp.pk}  # not the DISABLED one
    assert set(inact.values_list("mode", flat=True)) == {ProvisioningMode.AUTOMATIC, ProvisioningMode.MANUAL}
    assert (
        AuditEvent.objects.filter(action="account.inactivated", actor=admin, subject_user_id=user.pk).count()
        == 4
    )
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.RELEASED
    assert audit_verify().ok


def test_activation_reactivates_accounts_and_cancels_owner_change_events():
    user = make_user()
    res = make_resource()
    a1 = account(res, owner=user)
    temp = account(
        make_resource(), owner=user, is_temporary=True, expires_at=timezone.now() + timedelta(days=1)
    )
    lifecycle.user_inactivate(actor=None, source=Source.IMPORT, user=user)
    Account.objects.filter(pk=temp.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    event = DirectoryEvent.objects.create(
        kind=DirectoryEventKind.OWNER_CHANGE,
        user=user,
        object_type="directory.Role",
        object_id="1",
        object_repr="r",
    )

    lifecycle.user_activate(actor=None, source=Source.RECONCILIATION, user=user)

    user.refresh_from_db()
    assert user.status == ACTIVE and user.inactive_since is None
    a1.refresh_from_db()
    temp.refresh_from_db()
    assert a1.status == AccountStatus.ACTIVE
    assert temp.status == AccountStatus.INACTIVE  # expired: not brought back
    assert list(
        entries(event_type=ProvisioningEvent.ACTIVATE_ACCOUNT).values_list("account_id", flat=True)
    ) == [a1.pk]
    event.refresh_from_db()
    assert event.status == DirectoryEventStatus.CANCELED and event.closed_at is not None


OWNER_KINDS = (DirectoryEventKind.OWNER_CHANGE, DirectoryEventKind.ACCOUNT_ADMIN_CHANGE)


@pytest.fixture
def rich_user():
    """A user holding a bit of everything the revocation cascade must reach."""
    user = make_user(username="rich")
    org = Organization.objects.create(code="org-rich", name="Rich Org", owner=user)
    res = make_resource("erp")
    res.owners.add(user)
    ent = Entitlement.objects.create(resource=res, identifier="erp-admin", name="ERP admin", owner=user)
    role = Role.objects.create(code="finance", name="Finance", owner=user)
    policy_role = Role.objects.create(code="everyone", name="Everyone")
    role_res = make_resource("crm")
    access.role_change_apply(
        role_change_id=RoleChange.objects.create(role=role, action="ADD", resource=role_res).pk
    )
    access.role_grant(actor=None, source=Source.CONSOLE, user=user, role=role)
    RoleMembership.objects.create(
        user=user, role=policy_role, management=RoleMembershipManagement.ASSIGNMENT_POLICY
    )
    regular = account(res, owner=user)
    EntitlementMembership.objects.create(account=regular, entitlement=ent)
    temp = account(
        make_resource(), owner=user, is_temporary=True, expires_at=timezone.now() + timedelta(days=2)
    )
    app_acc = account(res, account_type=AccountType.APPLICATION, responsible=user, identifier="svc-erp")
    shared = account(res, account_type=AccountType.SHARED, identifier="social")
    SharedAccountMember.objects.create(account=shared, user=user)
    admin_acc = account(res, account_type=AccountType.ADMINISTRATIVE, identifier="root")
    AdministrativeCheckout.objects.create(account=admin_acc, user=user)
    return {
        "user": user,
        "org": org,
        "res": res,
        "ent": ent,
        "role": role,
        "role_acc": Account.objects.get(owner=user, resource=role_res),
        "regular": regular,
        "temp": temp,
        "app_acc": app_acc,
        "shared": shared,
    }


def test_revocation_cascade_reaches_everything_the_user_has(rich_user):
    d = rich_user
    user = d["user"]
    assert d["role_acc"].management == Management.ROLE

    lifecycle.user_revoke(actor=None, source=Source.CONSOLE, user=user)

    user.refresh_from_db()
    assert user.status == REVOKED and user.revoked_at is not None
    assert not RoleMembership.objects.filter(user=user).exists()  # policy-managed included
    for key in ("role_acc", "regular", "temp"):
        d[key].refresh_from_db()
        assert d[key].status == AccountStatus.REVOKED, key
    assert not EntitlementMembership.objects.filter(account__owner=user).exists()
    assert not AccountRoleGrant.objects.filter(account__owner=user).exists()
    revoked = set(entries(event_type=ProvisioningEvent.REVOKE_ACCOUNT).values_list("account_id", flat=True))
    assert revoked == {d["role_acc"].pk, d["regular"].pk, d["temp"].pk}
    owner_events = set(
        DirectoryEvent.objects.filter(user=user, kind=DirectoryEventKind.OWNER_CHANGE).values_list(
            "object_type", "object_id"
        )
    )
    assert owner_events == {
        ("directory.Organization", str(d["org"].pk)),
        ("directory.Resource", str(d["res"].pk)),
        ("directory.Entitlement", str(d["ent"].pk)),
        ("directory.Role", str(d["role"].pk)),
    }
    # the application account the user administered asks for a new administrator (seed 002)
    admin_change = DirectoryEvent.objects.get(user=user, kind=DirectoryEventKind.ACCOUNT_ADMIN_CHANGE)
    assert admin_change.object_id == str(d["app_acc"].pk) and "new administrator" in admin_change.detail
    assert not SharedAccountMember.objects.filter(user=user).exists()
    alert = DirectoryEvent.objects.get(kind=DirectoryEventKind.SHARED_MEMBER_REMOVED)
    assert alert.object_id == str(d["shared"].pk) and "rotate its password" in alert.detail
    assert not AdministrativeCheckout.objects.filter(user=user, status=CheckoutStatus.ACTIVE).exists()
    actions = set(AuditEvent.objects.filter(subject_user_id=user.pk).values_list("action", flat=True))
    assert {
        "user.revoked",
        "account.revoked",
        "role_membership.revoked",
        "directory_event.owner_change",
        "shared_account.member_removed",
        "vault.checkout.released",
    } <= actions
    assert audit_verify().ok


def test_remove_revokes_first_then_marks_removed(rich_user):
    user = rich_user["user"]
    lifecycle.user_remove(actor=None, source=Source.IMPORT, user=user)
    user.refresh_from_db()
    assert user.status == REMOVED and user.removed_at is not None and user.revoked_at is not None
    assert entries(event_type=ProvisioningEvent.REVOKE_ACCOUNT).count() == 3
    assert not RoleMembership.objects.filter(user=user).exists()
    assert DirectoryEvent.objects.filter(user=user, kind__in=OWNER_KINDS).count() == 5
    assert list(
        AuditEvent.objects.filter(object_type="directory.User", object_id=str(user.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    ) == ["user.revoked", "user.removed"]


def test_remove_without_revoke_changes_only_the_directory(rich_user):
    d = rich_user
    user = d["user"]
    before_entries = ProvisioningEntry.objects.count()

    lifecycle.user_remove(actor=None, source=Source.CONSOLE, user=user, without_revoke=True)

    user.refresh_from_db()
    assert user.status == REMOVED and user.revoked_at is None
    assert ProvisioningEntry.objects.count() == before_entries  # the applications are not told
    assert not Account.objects.filter(owner=user).exists()
    assert not RoleMembership.objects.filter(user=user).exists()
    assert Account.objects.filter(pk=d["app_acc"].pk).exists()  # not the user's own account
    assert DirectoryEvent.objects.filter(user=user, kind__in=OWNER_KINDS).count() == 5
    assert DirectoryEvent.objects.filter(kind=DirectoryEventKind.SHARED_MEMBER_REMOVED).count() == 1
    removed = AuditEvent.objects.get(action="user.removed")
    assert removed.new_values["without_revoke"] is True
    assert removed.new_values["provisioning_entries"] == 0
    assert AuditEvent.objects.filter(action="account.deleted_from_directory").count() == 3


def test_removing_a_revoked_user_does_not_cascade_again(rich_user):
    user = rich_user["user"]
    lifecycle.user_revoke(actor=None, source=Source.CONSOLE, user=user)
    counts = (ProvisioningEntry.objects.count(), DirectoryEvent.objects.count())
    lifecycle.user_remove(actor=None, source=Source.AUTOMATIC, user=user)
    user.refresh_from_db()
    assert user.status == REMOVED
    assert (ProvisioningEntry.objects.count(), DirectoryEvent.objects.count()) == counts


def test_a_failed_cascade_leaves_nothing_behind(rich_user, monkeypatch):
    user = rich_user["user"]
    before = snapshot(user)

    def boom(**kw):
        raise Conflict("vault unavailable")

    monkeypatch.setattr("directory.services.lifecycle.users._release_checkouts", boom)
    with pytest.raises(Conflict):
        lifecycle.user_revoke(actor=None, source=Source.CONSOLE, user=user)
    assert snapshot(user) == before


# ---------------------------------------------------------------------------------------------
# Login lock
# ---------------------------------------------------------------------------------------------


def _login(username, password="S3cret-pass!"):
    return LoginForm(request=None, data={"username": username, "password": password})


def test_lock_blocks_login_without_touching_the_status():
    user = make_user()
    user.set_password("S3cret-pass!")
    user.save()
    acc = account(make_resource(), owner=user)
    assert _login(user.username).is_valid()

    lifecycle.user_lock(actor=None, source=Source.CONSOLE, user=user)
    user.refresh_from_db()
    assert user.login_locked and user.status == ACTIVE
    acc.refresh_from_db()
    assert acc.status == AccountStatus.ACTIVE
    form = _login(user.username)
    assert not form.is_valid()
    assert "locked" in str(form.errors)

    lifecycle.user_unlock(actor=None, source=Source.CONSOLE, user=user)
    user.refresh_from_db()
    assert not user.login_locked and user.status == ACTIVE
    assert _login(user.username).is_valid()
    assert list(
        AuditEvent.objects.filter(object_id=str(user.pk), object_type="directory.User")
        .order_by("seq")
        .values_list("action", flat=True)
    ) == ["user.locked", "user.unlocked"]


def test_lock_survives_status_changes_and_unlock_keeps_the_status():
    user = make_user(status=INACTIVE)
    lifecycle.user_lock(actor=None, source=Source.API, user=user)
    lifecycle.user_activate(actor=None, source=Source.CONSOLE, user=user)
    user.refresh_from_db()
    assert user.login_locked and user.status == ACTIVE
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=user)
    lifecycle.user_unlock(actor=None, source=Source.CONSOLE, user=user)
    user.refresh_from_db()
    assert not user.login_locked and user.status == INACTIVE


def test_a_removed_user_cannot_be_locked_or_unlocked():
    user = make_user(status=REMOVED)
    before = snapshot(user)
    with pytest.raises(TransitionNotAllowed, match="REMOVED"):
        lifecycle.user_lock(actor=None, source=Source.CONSOLE, user=user)
    with pytest.raises(TransitionNotAllowed, match="Unknown source"):
        lifecycle.user_lock(actor=None, source="telnet", user=make_user())
    assert snapshot(user) == before


# ---------------------------------------------------------------------------------------------
# Account life cycle
# ---------------------------------------------------------------------------------------------


def test_account_inactivate_activate_revoke_with_provisioning():
    user = make_user()
    res = make_resource()
    acc = account(res, owner=user)
    ent = Entitlement.objects.create(resource=res, identifier="g1", name="G1")
    EntitlementMembership.objects.create(account=acc, entitlement=ent)

    lifecycle.account_inactivate(actor=None, source=Source.CONSOLE, account=acc)
    assert acc.status == AccountStatus.INACTIVE
    lifecycle.account_activate(actor=None, source=Source.CONSOLE, account=acc)
    assert acc.status == AccountStatus.ACTIVE
    lifecycle.account_revoke(actor=None, source=Source.CONSOLE, account=acc)
    acc.refresh_from_db()
    assert acc.status == AccountStatus.REVOKED
    assert not EntitlementMembership.objects.filter(account=acc).exists()
    assert list(entries(account=acc).order_by("id").values_list("event_type", flat=True)) == [
        ProvisioningEvent.INACTIVATE_ACCOUNT,
        ProvisioningEvent.ACTIVATE_ACCOUNT,
        ProvisioningEvent.REVOKE_ACCOUNT,
    ]
    assert list(
        AuditEvent.objects.filter(object_type="directory.Account", object_id=str(acc.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    ) == ["account.inactivated", "account.activated", "account.revoked"]


def test_a_disabled_event_writes_no_entry_but_still_changes_the_account():
    acc = account(make_resource(mode=ProvisioningMode.DISABLED), owner=make_user())
    lifecycle.account_inactivate(actor=None, source=Source.CONSOLE, account=acc)
    acc.refresh_from_db()
    assert acc.status == AccountStatus.INACTIVE
    assert not entries(account=acc).exists()


def test_a_revoked_account_is_final():
    acc = account(make_resource(), owner=make_user(), status=AccountStatus.REVOKED)
    audits = AuditEvent.objects.count()
    for op in (lifecycle.account_activate, lifecycle.account_inactivate):
        with pytest.raises(TransitionNotAllowed, match="from REVOKED to"):
            op(actor=None, source=Source.CONSOLE, account=acc)
    acc.refresh_from_db()
    assert acc.status == AccountStatus.REVOKED
    assert AuditEvent.objects.count() == audits and not entries(account=acc).exists()


def test_a_regular_account_of_an_inactive_user_cannot_be_activated_alone():
    user = make_user()
    acc = account(make_resource(), owner=user)
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=user)
    audits, n_entries = AuditEvent.objects.count(), ProvisioningEntry.objects.count()
    with pytest.raises(Conflict, match="follows its owner .* INACTIVE: activate the user instead"):
        lifecycle.account_activate(actor=None, source=Source.CONSOLE, account=acc)
    acc.refresh_from_db()
    assert acc.status == AccountStatus.INACTIVE
    assert (AuditEvent.objects.count(), ProvisioningEntry.objects.count()) == (audits, n_entries)
    # an orphan or non-nominal account has no owner to follow
    orphan = account(make_resource(), status=AccountStatus.INACTIVE)
    lifecycle.account_activate(actor=None, source=Source.CONSOLE, account=orphan)
    assert orphan.status == AccountStatus.ACTIVE


def test_a_role_managed_account_cannot_be_revoked_manually():
    user = make_user()
    res = make_resource()
    role = Role.objects.create(code="ops", name="Ops")
    access.role_change_apply(
        role_change_id=RoleChange.objects.create(role=role, action="ADD", resource=res).pk
    )
    access.role_grant(actor=None, source=Source.CONSOLE, user=user, role=role)
    acc = Account.objects.get(owner=user, resource=res)
    audits, n_entries = AuditEvent.objects.count(), ProvisioningEntry.objects.count()
    for source in (Source.CONSOLE, Source.API, Source.WORKSPACE, Source.IMPORT):
        with pytest.raises(Conflict, match="managed by role\\(s\\) Ops and cannot be revoked manually"):
            lifecycle.account_revoke(actor=None, source=source, account=acc)
    acc.refresh_from_db()
    assert acc.status == AccountStatus.ACTIVE
    assert (AuditEvent.objects.count(), ProvisioningEntry.objects.count()) == (audits, n_entries)
    # inactivating it is not revoking it
    lifecycle.account_inactivate(actor=None, source=Source.CONSOLE, account=acc)
    assert acc.status == AccountStatus.INACTIVE


def test_account_transition_with_an_unknown_source_is_refused():
    acc = account(make_resource(), owner=make_user())
    with pytest.raises(TransitionNotAllowed, match="Unknown source"):
        lifecycle.account_revoke(actor=None, source="mail", account=acc)
    acc.refresh_from_db()
    assert acc.status == AccountStatus.ACTIVE

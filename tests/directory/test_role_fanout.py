"""Role fan-out (seed 002 "Alteração de um papel", seed 004): members gain what a role holds,
existing accesses become role-managed, and removal revokes only what nothing else keeps."""

from __future__ import annotations

import itertools

import pytest
from django.db import IntegrityError, transaction

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict
from directory.models import (
    Account,
    AccountStatus,
    Entitlement,
    EntitlementMembership,
    Management,
    ProvisioningMode,
    Resource,
    Role,
    RoleChange,
    RoleChangeStatus,
    RoleMembership,
    User,
    UserStatus,
    default_provisioning_modes,
)
from directory.services import access
from provisioning.models import ProvisioningEntry

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)


def make_user(status=UserStatus.ACTIVE, **kw) -> User:
    n = next(_seq)
    return User.objects.create(
        username=kw.pop("username", f"user{n}"), first_name="U", last_name=str(n), status=status, **kw
    )


def make_resource(code="github", automatic=True) -> Resource:
    modes = default_provisioning_modes()
    if automatic:
        modes = {k: ProvisioningMode.AUTOMATIC for k in modes}
    return Resource.objects.create(code=code, name=code.title(), provisioning_modes=modes)


def make_role(code="dev") -> Role:
    return Role.objects.create(code=code, name=code.title())


def add_members(role, users):
    RoleMembership.objects.bulk_create([RoleMembership(role=role, user=u) for u in users])


def apply(role, action, *, resource=None, entitlement=None, keep_as_manual=False, capture):
    with capture(execute=True):
        change = access.role_change_submit(
            actor=None,
            source="console",
            role=role,
            action=action,
            resource=resource,
            entitlement=entitlement,
            keep_as_manual=keep_as_manual,
        )
    change.refresh_from_db()
    assert change.status == RoleChangeStatus.DONE, change.error
    return change


def test_adding_a_resource_creates_or_adopts_regular_accounts(django_capture_on_commit_callbacks):
    res = make_resource()
    role = make_role()
    fresh, has_account, inactive = make_user(), make_user(), make_user(status=UserStatus.INACTIVE)
    manual = access.account_create(actor=None, source="console", resource=res, owner=has_account)
    add_members(role, [fresh, has_account, inactive])
    before = ProvisioningEntry.objects.count()

    change = apply(role, "ADD", resource=res, capture=django_capture_on_commit_callbacks)

    created = Account.objects.get(owner=fresh, resource=res)
    assert (created.management, created.manual, created.status) == (
        Management.ROLE,
        False,
        AccountStatus.ACTIVE,
    )
    assert Account.objects.get(owner=inactive, resource=res).status == AccountStatus.INACTIVE
    manual.refresh_from_db()
    assert manual.management == Management.ROLE and manual.manual is True  # adopted, manual decision kept
    assert change.result["accounts_created"] == 2 and change.result["accounts_adopted"] == 1
    entries = ProvisioningEntry.objects.filter(event_type="CREATE_ACCOUNT").order_by("id")[before:]
    assert {e.account_id for e in entries} == {created.pk, Account.objects.get(owner=inactive).pk}
    assert res in role.resources.all()


def test_adding_an_entitlement_grants_it_to_every_member(django_capture_on_commit_callbacks):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role = make_role()
    users = [make_user() for _ in range(4)]
    add_members(role, users)
    # one member already holds it manually
    acc = access.account_create(actor=None, source="console", resource=res, owner=users[0])
    access.membership_grant(actor=None, source="console", account=acc, entitlement=ent)

    change = apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)

    memberships = EntitlementMembership.objects.filter(entitlement=ent)
    assert memberships.count() == 4
    assert set(memberships.values_list("management", flat=True)) == {Management.ROLE}
    assert memberships.get(account=acc).manual is True
    assert change.result["memberships_created"] == 3 and change.result["memberships_adopted"] == 1
    assert change.result["accounts_created"] == 3  # the resource came with the entitlement
    grants = ProvisioningEntry.objects.filter(
        event_type="GRANT_ENTITLEMENT", entitlement=ent, payload__reason="role"
    )
    assert grants.count() == 3
    # one audit event per membership, in each member's history
    for user in users[1:]:
        assert AuditEvent.objects.filter(action="membership.granted", subject_user_id=user.pk).exists()


def test_removing_an_entitlement_revokes_only_what_nothing_else_keeps(django_capture_on_commit_callbacks):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role, other = make_role("dev"), make_role("ops")
    only_role, in_both, manual_too = make_user(), make_user(), make_user()
    add_members(role, [only_role, in_both, manual_too])
    add_members(other, [in_both])
    apply(other, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)
    apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)
    m_manual = EntitlementMembership.objects.get(entitlement=ent, account__owner=manual_too)
    access.membership_grant(actor=None, source="console", account=m_manual.account, entitlement=ent)

    preview = access.role_change_preview(role=role, action="REMOVE", entitlement=ent)
    assert preview == {
        "members": 3,
        "granted_by_role": 3,
        "kept_by_other_roles": 1,
        "kept_manually": 1,
        "to_revoke": 1,
    }

    change = apply(role, "REMOVE", entitlement=ent, capture=django_capture_on_commit_callbacks)

    assert not EntitlementMembership.objects.filter(entitlement=ent, account__owner=only_role).exists()
    kept_by_role = EntitlementMembership.objects.get(entitlement=ent, account__owner=in_both)
    assert kept_by_role.management == Management.ROLE
    assert list(kept_by_role.role_grants.values_list("role__code", flat=True)) == ["ops"]
    kept_manual = EntitlementMembership.objects.get(entitlement=ent, account__owner=manual_too)
    assert kept_manual.management == Management.MANUAL and not kept_manual.role_grants.exists()
    assert change.result["memberships_revoked"] == 1
    assert (
        ProvisioningEntry.objects.filter(event_type="REVOKE_ENTITLEMENT", user_id_ref=only_role.pk).count()
        == 1
    )
    assert not role.entitlements.filter(pk=ent.pk).exists()


def test_removing_with_keep_as_manual_keeps_everything_as_manual(django_capture_on_commit_callbacks):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role = make_role()
    users = [make_user() for _ in range(3)]
    add_members(role, users)
    apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)
    apply(role, "REMOVE", entitlement=ent, keep_as_manual=True, capture=django_capture_on_commit_callbacks)
    ms = EntitlementMembership.objects.filter(entitlement=ent)
    assert ms.count() == 3
    assert set(ms.values_list("management", "manual")) == {(Management.MANUAL, True)}
    assert not ProvisioningEntry.objects.filter(event_type="REVOKE_ENTITLEMENT").exists()


def test_removing_a_resource_revokes_accounts_and_their_entitlements(django_capture_on_commit_callbacks):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role, other = make_role("dev"), make_role("ops")
    a, b = make_user(), make_user()
    add_members(role, [a, b])
    add_members(other, [b])
    apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)
    apply(other, "ADD", resource=res, capture=django_capture_on_commit_callbacks)

    change = apply(role, "REMOVE", resource=res, capture=django_capture_on_commit_callbacks)

    acc_a = Account.objects.get(owner=a, resource=res)
    acc_b = Account.objects.get(owner=b, resource=res)
    assert acc_a.status == AccountStatus.REVOKED
    assert acc_b.status == AccountStatus.ACTIVE and acc_b.management == Management.ROLE
    assert not EntitlementMembership.objects.filter(entitlement=ent).exists()  # ops holds the resource only
    assert change.result["accounts_revoked"] == 1
    assert ProvisioningEntry.objects.filter(event_type="REVOKE_ACCOUNT", account=acc_a).count() == 1
    assert not role.resources.exists() and not role.entitlements.exists()


def test_granting_a_role_to_a_user_and_revoking_it(django_capture_on_commit_callbacks):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role = make_role()
    apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)  # no members yet
    user = make_user()

    membership = access.role_grant(actor=None, source="console", user=user, role=role)
    acc = Account.objects.get(owner=user, resource=res)
    assert EntitlementMembership.objects.filter(
        account=acc, entitlement=ent, management=Management.ROLE
    ).exists()
    assert access.why(account=acc) == {"manual": False, "roles": ["Dev"]}

    with pytest.raises(Conflict):
        access.role_grant(actor=None, source="console", user=user, role=role)

    access.role_revoke(actor=None, source="console", membership=membership)
    acc.refresh_from_db()
    assert acc.status == AccountStatus.REVOKED
    assert not EntitlementMembership.objects.filter(account=acc).exists()
    assert not RoleMembership.objects.filter(user=user).exists()

    # a granted-again role brings the revoked account back
    access.role_grant(actor=None, source="console", user=user, role=role)
    acc.refresh_from_db()
    assert acc.status == AccountStatus.ACTIVE
    assert EntitlementMembership.objects.filter(account=acc, entitlement=ent).exists()


def test_role_managed_access_cannot_be_revoked_manually(django_capture_on_commit_callbacks):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role = make_role()
    user = make_user()
    add_members(role, [user])
    apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)
    membership = EntitlementMembership.objects.get(entitlement=ent)
    audit_before = AuditEvent.objects.count()
    with pytest.raises(Conflict, match="managed by role"):
        access.membership_revoke(actor=None, source="console", membership=membership)
    assert EntitlementMembership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.count() == audit_before


def test_policy_managed_role_membership_cannot_be_revoked_manually():
    role = make_role()
    user = make_user()
    membership = access.role_grant(
        actor=None, source="console", user=user, role=role, management="ASSIGNMENT_POLICY"
    )
    with pytest.raises(Conflict, match="assignment policy"):
        access.role_revoke(actor=None, source="console", membership=membership)
    assert RoleMembership.objects.filter(pk=membership.pk).exists()


def test_one_regular_account_per_user_and_resource():
    res = make_resource()
    user = make_user()
    access.account_create(actor=None, source="console", resource=res, owner=user)
    with pytest.raises(Conflict, match="one per resource"):
        access.account_create(actor=None, source="console", resource=res, owner=user, identifier="other")
    assert Account.objects.filter(owner=user).count() == 1
    # the database itself enforces it
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(resource=res, owner=user, identifier="sneaky", account_type="REGULAR")
    # application accounts are not limited
    access.account_create(
        actor=None,
        source="console",
        resource=res,
        identifier="svc-1",
        account_type="APPLICATION",
        responsible=user,
    )
    access.account_create(
        actor=None,
        source="console",
        resource=res,
        identifier="svc-2",
        account_type="APPLICATION",
        responsible=user,
    )


def test_orphan_account_with_the_username_is_reported_not_overwritten(django_capture_on_commit_callbacks):
    res = make_resource()
    role = make_role()
    user = make_user(username="jdoe")
    orphan = access.account_create(actor=None, source="console", resource=res, identifier="jdoe")
    add_members(role, [user])
    change = apply(role, "ADD", resource=res, capture=django_capture_on_commit_callbacks)
    assert change.result["identifier_conflicts"] == 1
    orphan.refresh_from_db()
    assert orphan.owner is None and not Account.objects.filter(owner=user).exists()


def test_applying_a_change_twice_has_one_effect(django_capture_on_commit_callbacks):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role = make_role()
    add_members(role, [make_user() for _ in range(3)])
    change = apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)
    counts = (
        EntitlementMembership.objects.count(),
        ProvisioningEntry.objects.count(),
        AuditEvent.objects.count(),
    )
    again = access.role_change_apply(role_change_id=change.pk)
    assert again.status == RoleChangeStatus.DONE
    assert counts == (
        EntitlementMembership.objects.count(),
        ProvisioningEntry.objects.count(),
        AuditEvent.objects.count(),
    )


def test_bad_role_changes_are_refused_and_change_nothing(django_capture_on_commit_callbacks):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role = make_role()
    with pytest.raises(Conflict, match="not in role"):
        access.role_change_submit(actor=None, source="console", role=role, action="REMOVE", entitlement=ent)
    apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)
    with pytest.raises(Conflict, match="already in role"):
        access.role_change_submit(actor=None, source="console", role=role, action="ADD", entitlement=ent)
    from blazon.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        access.role_change_submit(actor=None, source="console", role=role, action="FROB", entitlement=ent)
    with pytest.raises(ValidationFailed):
        access.role_change_submit(
            actor=None, source="console", role=role, action="ADD", resource=res, entitlement=ent
        )
    assert RoleChange.objects.count() == 1


def test_preview_matches_what_the_change_does(django_capture_on_commit_callbacks):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role = make_role()
    users = [make_user() for _ in range(5)]
    add_members(role, users)
    access.account_create(actor=None, source="console", resource=res, owner=users[0])
    preview = access.role_change_preview(role=role, action="ADD", entitlement=ent)
    assert preview == {
        "members": 5,
        "adds_resource": 1,
        "accounts_to_create": 4,
        "accounts_to_reactivate": 0,
        "accounts_to_adopt": 1,
        "memberships_to_adopt": 0,
        "memberships_to_create": 5,
    }
    change = apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)
    assert change.result["accounts_created"] == preview["accounts_to_create"]
    assert change.result["accounts_adopted"] == preview["accounts_to_adopt"]
    assert change.result["memberships_created"] == preview["memberships_to_create"]


def test_preview_does_not_count_members_whose_account_is_revoked(django_capture_on_commit_callbacks):
    """The resource is already in the role; one member's account was revoked on the resource:
    the new entitlement can only go on the live accounts, and the preview says so."""
    res = make_resource()
    role = make_role()
    users = [make_user() for _ in range(3)]
    add_members(role, users)
    apply(role, "ADD", resource=res, capture=django_capture_on_commit_callbacks)
    Account.objects.filter(owner=users[0], resource=res).update(status=AccountStatus.REVOKED)
    ent = Entitlement.objects.create(resource=res, identifier="readers", name="Readers")

    preview = access.role_change_preview(role=role, action="ADD", entitlement=ent)
    assert (preview["members"], preview["adds_resource"], preview["memberships_to_create"]) == (3, 0, 2)
    change = apply(role, "ADD", entitlement=ent, capture=django_capture_on_commit_callbacks)
    assert change.result["memberships_created"] == 2
    assert EntitlementMembership.objects.filter(entitlement=ent).count() == 2


@pytest.mark.parametrize("members", [5, 60])
def test_fan_out_query_count_does_not_grow_with_members(members, django_assert_max_num_queries):
    res = make_resource()
    ent = Entitlement.objects.create(resource=res, identifier="admins", name="Admins")
    role = make_role()
    User.objects.bulk_create(
        [User(username=f"bulk{i}", first_name="B", last_name=str(i)) for i in range(members)]
    )
    add_members(role, User.objects.filter(username__startswith="bulk"))
    change = RoleChange.objects.create(role=role, action="ADD", entitlement=ent)
    # the same bound for 5 and 60 members: set-based, no query per member
    with django_assert_max_num_queries(40):
        access.role_change_apply(role_change_id=change.pk)
    assert EntitlementMembership.objects.filter(entitlement=ent).count() == members

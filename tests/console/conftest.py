"""Console test set-up: a small directory and a logged-in client per administrative role."""

from __future__ import annotations

import pytest
from django.test import Client

from directory.models import (
    AccountRoleGrant,
    ConsoleRole,
    EntitlementMembership,
    Management,
    MembershipRoleGrant,
    RoleEntitlement,
    RoleResource,
)
from tests.api.factories import (
    AccountFactory,
    EntitlementFactory,
    OrganizationFactory,
    ResourceFactory,
    RoleFactory,
    RoleMembershipFactory,
    UserFactory,
)

PASSWORD = "correct horse battery staple"


def with_password(**kwargs):
    """A user who can log in with ``PASSWORD`` (the shared factory gives unusable passwords)."""
    user = UserFactory(**kwargs)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def admin_user(db):
    return UserFactory(username="console-admin", console_role=ConsoleRole.ADMINISTRATOR)


@pytest.fixture
def admin(admin_user):
    return logged_in(admin_user)


@pytest.fixture
def helpdesk(db):
    return logged_in(UserFactory(username="console-helpdesk", console_role=ConsoleRole.HELPDESK))


@pytest.fixture
def auditor(db):
    return logged_in(UserFactory(username="console-auditor", console_role=ConsoleRole.AUDITOR))


@pytest.fixture
def plain_user(db):
    return UserFactory(username="plain")


@pytest.fixture
def plain(plain_user):
    return logged_in(plain_user)


@pytest.fixture
def world(db):
    """One organization, a resource with two entitlements, a role granting an account and one
    entitlement to its member ``alice``; ``bob`` holds the other entitlement manually."""
    org = OrganizationFactory(code="finance", name="Finance")
    github = ResourceFactory(code="github", name="GitHub")
    admins = EntitlementFactory(resource=github, identifier="gh-admins", name="GitHub admins")
    readers = EntitlementFactory(resource=github, identifier="gh-readers", name="GitHub readers")
    role = RoleFactory(code="developers", name="Developers")
    alice = UserFactory(username="alice", first_name="Alice", last_name="Liddell", organization=org)
    bob = UserFactory(username="bob", first_name="Bob", last_name="Builder", organization=org)
    RoleMembershipFactory(user=alice, role=role)
    RoleResource.objects.create(role=role, resource=github)
    RoleEntitlement.objects.create(role=role, entitlement=readers)
    alice_acct = AccountFactory(
        resource=github, owner=alice, identifier="alice-gh", manual=False, management=Management.ROLE
    )
    AccountRoleGrant.objects.create(account=alice_acct, role=role)
    m = EntitlementMembership.objects.create(
        account=alice_acct, entitlement=readers, manual=False, management=Management.ROLE
    )
    MembershipRoleGrant.objects.create(membership=m, role=role)
    bob_acct = AccountFactory(resource=github, owner=bob, identifier="bob-gh")
    EntitlementMembership.objects.create(account=bob_acct, entitlement=admins)
    return {
        "org": org,
        "github": github,
        "admins": admins,
        "readers": readers,
        "role": role,
        "alice": alice,
        "bob": bob,
        "alice_acct": alice_acct,
        "bob_acct": bob_acct,
    }

"""Small factories for the API tests (directory objects straight in the database)."""

from __future__ import annotations

import factory

from directory.models import (
    Account,
    AccountRoleGrant,
    AttributeDefinition,
    Entitlement,
    EntitlementMembership,
    Management,
    Organization,
    Resource,
    Role,
    RoleMembership,
    User,
)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    code = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"Organization {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    # API tests authenticate with tokens; an unusable password skips the (slow) hashing.
    password = "!"


class ResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Resource

    code = factory.Sequence(lambda n: f"res-{n}")
    name = factory.Sequence(lambda n: f"Resource {n}")


class EntitlementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Entitlement

    resource = factory.SubFactory(ResourceFactory)
    identifier = factory.Sequence(lambda n: f"group-{n}")
    name = factory.Sequence(lambda n: f"Group {n}")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    resource = factory.SubFactory(ResourceFactory)
    owner = factory.SubFactory(UserFactory)
    identifier = factory.Sequence(lambda n: f"acct{n}")


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role

    code = factory.Sequence(lambda n: f"role-{n}")
    name = factory.Sequence(lambda n: f"Role {n}")


class RoleMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoleMembership

    user = factory.SubFactory(UserFactory)
    role = factory.SubFactory(RoleFactory)


class EntitlementMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EntitlementMembership

    account = factory.SubFactory(AccountFactory)
    entitlement = factory.SubFactory(EntitlementFactory, resource=factory.SelfAttribute("..account.resource"))


class AttributeDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AttributeDefinition

    scope = "USER"
    name = factory.Sequence(lambda n: f"attr{n}")
    label = factory.Sequence(lambda n: f"Attribute {n}")


def role_managed_account(role: Role, **kw) -> Account:
    """An account kept by ``role`` (as the fan-out would leave it)."""
    account = AccountFactory(management=Management.ROLE, manual=False, **kw)
    AccountRoleGrant.objects.create(account=account, role=role)
    return account

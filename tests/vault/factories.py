"""Small factories for the vault tests (directory objects the vault points at)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from directory.models import Account, AccountType, Resource


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"vault.user{n}")
    first_name = "Vault"
    last_name = factory.Sequence(lambda n: f"User{n}")


class ResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Resource

    code = factory.Sequence(lambda n: f"vault-res-{n}")
    name = factory.Sequence(lambda n: f"Vault resource {n}")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    resource = factory.SubFactory(ResourceFactory)
    identifier = factory.Sequence(lambda n: f"acct{n}")
    account_type = AccountType.REGULAR


class AdministrativeAccountFactory(AccountFactory):
    identifier = factory.Sequence(lambda n: f"admin{n}")
    account_type = AccountType.ADMINISTRATIVE

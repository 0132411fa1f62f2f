"""Bulk creation of users (the importer's path, issue #2 B2): users, one regular account per
resource, provisioning entries where the resource provisions, audit events — all or nothing,
with the bad rows named, and a fixed number of queries whatever the number of rows."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from blazon.errors import ValidationFailed
from directory.models import (
    Account,
    AccountType,
    AttributeDefinition,
    AttributeScope,
    Organization,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
    User,
    default_provisioning_modes,
)
from directory.services.users.bulk import users_bulk_create
from provisioning.models import ProvisioningEntry

pytestmark = pytest.mark.django_db


def resource(code, provisions_create=True):
    modes = default_provisioning_modes()
    if provisions_create:
        modes[ProvisioningEvent.CREATE_ACCOUNT] = ProvisioningMode.AUTOMATIC
    return Resource.objects.create(code=code, name=code.upper(), provisioning_modes=modes)


def rows(n, start=0, **extra):
    return [{"first_name": f"Ana{i}", "last_name": "Lima", **extra} for i in range(start, start + n)]


def bulk(data, resources=None, **kw):
    return users_bulk_create(actor=None, source="import", rows=iter(data), accounts_per_user=resources, **kw)


def counts():
    return (
        User.objects.count(),
        Account.objects.count(),
        ProvisioningEntry.objects.count(),
        AuditEvent.objects.count(),
    )


def test_creates_users_accounts_entries_and_audit():
    Organization.objects.create(code="sales", name="Sales")
    ad, sap, wiki = resource("ad"), resource("sap"), resource("wiki", provisions_create=False)
    created = bulk(rows(7, organization="sales", department="Sales"), [ad, sap, wiki])
    assert created == 7
    users = User.objects.filter(created_source="import")
    assert users.count() == 7
    assert set(users.values_list("organization__code", flat=True)) == {"sales"}
    assert not any(u.has_usable_password() for u in users)
    assert Account.objects.filter(account_type=AccountType.REGULAR, owner__in=users).count() == 21
    assert set(Account.objects.filter(resource=ad).values_list("identifier", flat=True)) == set(
        users.values_list("username", flat=True)
    )
    # wiki does not provision account creation: entries only for ad and sap
    assert ProvisioningEntry.objects.filter(event_type=ProvisioningEvent.CREATE_ACCOUNT).count() == 14
    assert not ProvisioningEntry.objects.filter(resource=wiki).exists()
    assert AuditEvent.objects.filter(action="user.created").count() == 7
    # one event per user, naming the accounts created with it
    event = AuditEvent.objects.filter(action="user.created").first()
    assert set(event.new_values["accounts"]) == {"ad", "sap", "wiki"}
    assert audit_verify().ok


def test_usernames_follow_the_policy_against_existing_and_earlier_rows():
    User.objects.create(username="ana.lima")
    data = [
        {"first_name": "Ana", "last_name": "Lima"},
        {"first_name": "Ana", "last_name": "Lima"},
        {"first_name": "Ána", "last_name": "Lima", "middle_name": "Beatriz"},
        {"first_name": "Ana", "last_name": "Lima", "username": "explicit.ana"},
    ]
    bulk(data)
    assert set(User.objects.values_list("username", flat=True)) == {
        "ana.lima",
        "ana.lima2",
        "ana.lima3",
        "ana.b.lima",
        "explicit.ana",
    }


def test_managers_existing_or_from_any_row_of_the_import():
    User.objects.create(username="ceo")
    data = [
        {"username": "worker", "first_name": "W", "last_name": "K", "manager": "lead"},  # a later row
        {"username": "lead", "first_name": "L", "last_name": "D", "manager": "ceo"},
    ]
    bulk(data)
    assert User.objects.get(username="worker").manager.username == "lead"
    assert User.objects.get(username="lead").manager.username == "ceo"


def test_password_hash_is_shared_when_given():
    bulk(rows(3), password_hash=make_password("blazon-demo-user"))
    assert all(u.check_password("blazon-demo-user") for u in User.objects.all())


def test_a_bad_row_writes_nothing_and_is_named():
    AttributeDefinition.objects.create(scope=AttributeScope.USER, name="badge", label="Badge", unique=True)
    User.objects.create(username="taken")
    ad = resource("ad")
    Account.objects.create(resource=ad, identifier="orphan.one")  # an orphan account already named so
    before = counts()
    data = [
        *rows(3, attributes={}),
        {"first_name": "Bad", "last_name": "Mail", "email": "bad@"},  # row 4
        {"first_name": "X", "last_name": "Y", "username": "taken"},  # row 5
        {"first_name": "A", "last_name": "B", "attributes": {"badge": "1"}},
        {"first_name": "C", "last_name": "D", "attributes": {"badge": "1"}},  # row 7: same as row 6
        {"first_name": "O", "last_name": "Z", "username": "orphan.one"},  # row 8: account id clash
        {"first_name": "M", "last_name": "N", "manager": "nobody"},  # row 9
        {"first_name": "S", "last_name": "T", "status": "REVOKED"},  # row 10
        "not a row",  # row 11
    ]
    with pytest.raises(ValidationFailed) as exc:
        bulk(data, [ad])
    assert counts() == before
    fields = exc.value.fields
    assert set(fields) == {"row 4", "row 5", "row 7", "row 8", "row 9", "row 10", "row 11"}
    assert "e-mail" in fields["row 4"][0]
    assert "already taken" in fields["row 5"][0]
    assert "earlier row" in fields["row 7"][0]
    assert "already exists on AD" in fields["row 8"][0]
    assert "nobody" in fields["row 9"][0]
    assert "life-cycle" in fields["row 10"][0]
    assert exc.value.message.startswith("7 row(s) have errors, nothing was created")


def test_a_bad_row_in_a_later_chunk_undoes_earlier_chunks(monkeypatch):
    monkeypatch.setattr("directory.services.users.bulk.BULK_CHUNK", 4)
    ad = resource("ad")
    before = counts()
    data = [*rows(9), {"first_name": "", "last_name": "Lima"}]
    with pytest.raises(ValidationFailed) as exc:
        bulk(data, [ad])
    assert "row 10" in exc.value.fields
    assert counts() == before


def test_passwords_are_not_accepted_per_row():
    with pytest.raises(ValidationFailed) as exc:
        bulk([{"first_name": "A", "last_name": "B", "password": "x" * 20}])
    assert "Passwords cannot be set" in exc.value.fields["row 1"][0]
    assert not User.objects.exists()


def test_number_of_queries_does_not_grow_with_rows(django_assert_max_num_queries, django_db_blocker):
    Organization.objects.create(code="ops", name="Ops")
    User.objects.create(username="boss")
    AttributeDefinition.objects.create(scope=AttributeScope.USER, name="badge", label="Badge", unique=True)
    resources = [resource("ad"), resource("sap"), resource("gh")]

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(n, start):
        data = [
            {**r, "organization": "ops", "manager": "boss", "attributes": {"badge": f"B{start + i}"}}
            for i, r in enumerate(rows(n, start))
        ]
        with CaptureQueriesContext(connection) as ctx:
            assert bulk(data, resources) == n
        return len(ctx.captured_queries)

    queries(1, 1000)  # warm-up: the first audit event creates the chain head
    small, large = queries(5, 0), queries(200, 100)
    assert small == large
    assert large < 40

"""Creating and editing one user (console, workspace, API): standard fields, attributes, the
username policy, and a clear error with nothing changed for each bad input."""

from __future__ import annotations

from datetime import date

import pytest

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, ValidationFailed
from directory.models import (
    AttributeDefinition,
    AttributeScope,
    AttributeType,
    Organization,
    User,
    UserStatus,
)
from directory.services.users.create import user_create
from directory.services.users.update import user_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return Organization.objects.create(code="finance", name="Finance")


@pytest.fixture
def boss():
    return User.objects.create(username="boss", first_name="Big", last_name="Boss")


def create(**data):
    return user_create(actor=None, source="console", data=data)


def refused(exc_type, fn, **kw):
    users, events = User.objects.count(), AuditEvent.objects.count()
    with pytest.raises(exc_type) as exc:
        fn(**kw)
    assert User.objects.count() == users
    assert AuditEvent.objects.count() == events
    return exc.value


def test_create_with_every_standard_field(org, boss):
    AttributeDefinition.objects.create(
        scope=AttributeScope.USER, name="badge", label="Badge", type=AttributeType.INTEGER
    )
    user = create(
        first_name=" João ",
        last_name="Conceição",
        email="joao@corp.example",
        organization="finance",
        manager="boss",
        job_title="Analyst",
        department="Finance",
        employee_type="employee",
        start_date="2024-01-15",
        end_date="2025-01-14",
        attributes={"badge": "12"},
    )
    user.refresh_from_db()
    assert user.username == "joao.conceicao"
    assert user.display_name == "João Conceição"
    assert (user.organization, user.manager) == (org, boss)
    assert user.start_date == date(2024, 1, 15)
    assert user.attributes == {"badge": 12}
    assert user.status == UserStatus.ACTIVE
    assert not user.has_usable_password()
    event = AuditEvent.objects.get(action="user.created", object_id=str(user.pk))
    assert event.new_values["username"] == "joao.conceicao"
    assert event.new_values["organization"] == "finance"


def test_organization_by_id_manager_by_id_and_explicit_username(org, boss):
    user = create(username="jc", first_name="J", last_name="C", organization=org.pk, manager=boss.pk)
    assert (user.username, user.organization_id, user.manager_id) == ("jc", org.pk, boss.pk)


def test_password_is_set_when_given_and_never_audited():
    user = create(first_name="Ana", last_name="Lima", password="a long Passphrase 42")
    assert user.check_password("a long Passphrase 42")
    event = AuditEvent.objects.get(action="user.created")
    assert "a long Passphrase 42" not in str(event.new_values)


def test_weak_password_is_refused():
    exc = refused(ValidationFailed, create, first_name="Ana", last_name="Lima", password="123")
    assert "password" in exc.fields


def test_duplicate_username_is_a_conflict():
    User.objects.create(username="Ana.Lima")
    exc = refused(Conflict, create, username="ana.lima", first_name="Ana", last_name="Lima")
    assert "already taken" in exc.message


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"last_name": "Lima"}, "first_name", "required"),
        ({"first_name": "Ana", "last_name": "  "}, "last_name", "required"),
        ({"first_name": "Ana", "last_name": "Lima", "email": "ana@"}, "email", "not a valid e-mail"),
        (
            {"first_name": "Ana", "last_name": "Lima", "start_date": "2024-05-01", "end_date": "2024-04-30"},
            "end_date",
            "before the start date",
        ),
        ({"first_name": "Ana", "last_name": "Lima", "start_date": "May 1st"}, "start_date", "YYYY-MM-DD"),
        (
            {"first_name": "Ana", "last_name": "Lima", "organization": "nowhere"},
            "organization",
            "Unknown organization",
        ),
        ({"first_name": "Ana", "last_name": "Lima", "manager": "ghost"}, "manager", "Unknown user"),
        ({"first_name": "Ana", "last_name": "Lima", "manager": 999999}, "manager", "Unknown user"),
        ({"first_name": "Ana", "last_name": "Lima", "shoe_size": 44}, "shoe_size", "Unknown field"),
        ({"first_name": "Ana", "last_name": "Lima", "status": "REVOKED"}, "status", "life-cycle"),
        ({"first_name": "Ana", "last_name": "Lima", "username": "ana lima"}, "username", "no spaces"),
        (
            {"first_name": "Ana", "last_name": "Lima", "attributes": {"x": 1}},
            "attributes.x",
            "Unknown attribute",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(data, field, text):
    exc = refused(ValidationFailed, create, **data)
    assert field in exc.fields
    assert text in " ".join(exc.fields[field])
    assert text in exc.message


def test_missing_required_attribute_refuses_creation():
    AttributeDefinition.objects.create(scope=AttributeScope.USER, name="cpf", label="CPF", required=True)
    exc = refused(ValidationFailed, create, first_name="Ana", last_name="Lima")
    assert exc.fields == {"attributes.cpf": ["CPF is required."]}


def test_no_username_available_refuses_creation():
    User.objects.create(username="ana.lima")
    from directory.models import UsernamePolicy

    UsernamePolicy.objects.create(patterns=["{first}.{last}"], numeric_suffix=False)
    exc = refused(ValidationFailed, create, first_name="Ana", last_name="Lima")
    assert "No username available for Ana Lima" in exc.message


# --- update ------------------------------------------------------------------------------------


def update(user, **data):
    return user_update(actor=None, source="console", user=user, data=data)


def test_partial_update_audits_old_and_new_values(org, boss):
    user = create(first_name="Rui", last_name="Costa", job_title="Analyst")
    update(user, job_title="Manager", organization="finance", manager="boss", display_name="")
    user.refresh_from_db()
    assert (user.job_title, user.organization, user.manager, user.first_name) == ("Manager", org, boss, "Rui")
    assert user.display_name == "Rui Costa"
    event = AuditEvent.objects.get(action="user.updated")
    assert event.old_values == {"job_title": "Analyst", "organization": None, "manager": None}
    assert event.new_values == {"job_title": "Manager", "organization": "finance", "manager": "boss"}


def test_update_without_change_writes_no_event():
    user = create(first_name="Rui", last_name="Costa", job_title="Analyst")
    update(user, job_title="Analyst")
    assert not AuditEvent.objects.filter(action="user.updated").exists()


def test_attributes_are_merged_and_cleared_with_null():
    AttributeDefinition.objects.create(
        scope=AttributeScope.USER, name="badge", label="Badge", type=AttributeType.INTEGER
    )
    AttributeDefinition.objects.create(scope=AttributeScope.USER, name="floor", label="Floor")
    user = create(first_name="Rui", last_name="Costa", attributes={"badge": 1, "floor": "3"})
    update(user, attributes={"badge": "2"})
    user.refresh_from_db()
    assert user.attributes == {"badge": 2, "floor": "3"}
    update(user, attributes={"floor": None})
    user.refresh_from_db()
    assert user.attributes == {"badge": 2}


def test_password_change_is_audited_without_the_password():
    user = create(first_name="Rui", last_name="Costa")
    update(user, password="Another long passphrase 7")
    user.refresh_from_db()
    assert user.check_password("Another long passphrase 7")
    event = AuditEvent.objects.get(action="user.updated")
    assert "Another long passphrase 7" not in str(event.new_values) + str(event.old_values)


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"first_name": ""}, "first_name", "required"),
        ({"email": "nope"}, "email", "not a valid e-mail"),
        ({"end_date": "2020-01-01"}, "end_date", "before the start date"),
        ({"organization": "ghost"}, "organization", "Unknown organization"),
        ({"manager": "ghost"}, "manager", "Unknown user"),
        ({"status": "INACTIVE"}, "status", "life-cycle"),
        ({"username": ""}, "username", "cannot be emptied"),
        ({"nickname": "x"}, "nickname", "Unknown field"),
    ],
)
def test_bad_update_changes_nothing(data, field, text):
    user = create(first_name="Rui", last_name="Costa", start_date="2024-01-01", email="rui@corp.example")
    before = User.objects.filter(pk=user.pk).values().get()
    exc = refused(ValidationFailed, update, user=user, **data)
    assert text in " ".join(exc.fields[field])
    assert User.objects.filter(pk=user.pk).values().get() == before


def test_username_taken_by_another_user_is_a_conflict():
    create(first_name="Ana", last_name="Lima")
    user = create(first_name="Rui", last_name="Costa")
    refused(Conflict, update, user=user, username="ANA.LIMA")
    user.refresh_from_db()
    assert user.username == "rui.costa"


def test_manager_loops_are_refused(boss):
    user = create(first_name="Rui", last_name="Costa", manager="boss")
    exc = refused(ValidationFailed, update, user=boss, manager=user.username)
    assert "reports to boss" in exc.fields["manager"][0]
    exc = refused(ValidationFailed, update, user=boss, manager="boss")
    assert "own manager" in exc.fields["manager"][0]


def test_unique_attribute_allows_keeping_own_value():
    AttributeDefinition.objects.create(scope=AttributeScope.USER, name="badge", label="Badge", unique=True)
    a = create(first_name="Ana", last_name="Lima", attributes={"badge": "A1"})
    update(a, attributes={"badge": "A1"}, job_title="Lead")
    b = create(first_name="Rui", last_name="Costa")
    exc = refused(ValidationFailed, update, user=b, attributes={"badge": "A1"})
    assert "already used" in exc.fields["attributes.badge"][0]

"""The one way configuration services write (blazon.changes): only what changed is saved and
audited, a refused change saves nothing, and a unique-constraint race is a Conflict."""

from __future__ import annotations

import pytest
from django.db import transaction

from blazon.audit.models import AuditEvent
from blazon.changes import config_create, config_delete, config_update
from blazon.errors import Conflict, ValidationFailed
from directory.models import Organization
from tests.api.factories import OrganizationFactory

pytestmark = pytest.mark.django_db
FIELDS = ("code", "name", "parent", "owner")


def _update(org, **values):
    with (
        transaction.atomic(),
        config_update(
            Organization,
            org.pk,
            fields=FIELDS,
            actor=None,
            source="api",
            action="organization.update",
            conflict="Code taken.",
            conflict_field="code",
        ) as change,
    ):
        for name, value in values.items():
            setattr(change.obj, name, value)
    return change


def test_only_what_changed_is_audited():
    org = OrganizationFactory(code="fin", name="Finance")
    change = _update(org, name="Finance & Control", code="fin")
    assert (change.old, change.new) == ({"name": "Finance"}, {"name": "Finance & Control"})
    event = AuditEvent.objects.get(action="organization.update")
    assert (event.old_values, event.new_values) == ({"name": "Finance"}, {"name": "Finance & Control"})
    org.refresh_from_db()
    assert org.name == "Finance & Control"


def test_nothing_changed_writes_nothing():
    org = OrganizationFactory(code="fin", name="Finance")
    assert _update(org, name="Finance").new == {}
    assert not AuditEvent.objects.exists()


def test_a_refused_change_saves_nothing():
    org = OrganizationFactory(code="fin", name="Finance")
    with (
        pytest.raises(ValidationFailed),
        transaction.atomic(),
        config_update(
            Organization, org.pk, fields=FIELDS, actor=None, source="api", action="organization.update"
        ) as change,
    ):
        change.obj.name = "Changed"
        raise ValidationFailed("No.", fields={"name": ["No."]})
    org.refresh_from_db()
    assert org.name == "Finance" and not AuditEvent.objects.exists()


def test_a_unique_race_is_a_conflict_on_the_field():
    OrganizationFactory(code="taken")
    org = OrganizationFactory(code="free")
    with pytest.raises(Conflict) as raised:
        _update(org, code="taken")  # the service's own check was passed by: the database refuses
    assert raised.value.fields == {"code": ["Code taken."]}
    with pytest.raises(Conflict), transaction.atomic():
        config_create(
            Organization(code="taken", name="Again"),
            fields=FIELDS,
            actor=None,
            source="api",
            action="organization.create",
            conflict=lambda o: Conflict(f"{o.code} is taken."),
        )
    assert not AuditEvent.objects.exists()


def test_delete_audits_the_last_values_then_deletes():
    org = OrganizationFactory(code="gone", name="Gone")
    with transaction.atomic():
        config_delete(
            org, fields=FIELDS, actor=None, source="api", action="organization.delete", extra={"why": "test"}
        )
    event = AuditEvent.objects.get(action="organization.delete")
    assert event.old_values["code"] == "gone" and event.old_values["why"] == "test"
    assert not Organization.objects.filter(code="gone").exists()

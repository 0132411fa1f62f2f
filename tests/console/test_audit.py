"""The console's audit log: filters, paging and the CSV export of the same selection, with
spreadsheet formulas neutralised."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.audit.views import csv_safe
from directory.services import config
from tests.api.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(admin_user):
    other = UserFactory(username="operator")
    config.organization_create(actor=admin_user, source="console", code="hr", name='=HYPERLINK("http://x")')
    config.organization_create(actor=other, source="api", code="ops", name="Operations")
    config.resource_create(actor=admin_user, source="console", code="sap", name="@SUM(A1:A9)")
    return other


def rows(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_filter_by_actor_action_object_and_source(admin, events):
    page = admin.get(reverse("console:audit"), {"actor": "operator"})
    assert [e.object_repr for e in page.context["page_obj"]] == ["Operations"]
    page = admin.get(reverse("console:audit"), {"action": "resource."})
    assert [e.action for e in page.context["page_obj"]] == ["resource.create"]
    page = admin.get(reverse("console:audit"), {"source": "api"})
    assert {e.source for e in page.context["page_obj"]} == {"api"}
    org_event = AuditEvent.objects.get(action="organization.create", object_repr="Operations")
    page = admin.get(
        reverse("console:audit"), {"object_type": org_event.object_type, "object_id": org_event.object_id}
    )
    assert [e.seq for e in page.context["page_obj"]] == [org_event.seq]
    assert "Operations" in page.content.decode()


def test_filter_by_date_range(admin, events):
    today = timezone.localdate()
    assert (
        admin.get(reverse("console:audit"), {"date_from": today.isoformat()})
        .context["page_obj"]
        .paginator.count
        == 3
    )
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert (
        admin.get(reverse("console:audit"), {"date_from": tomorrow}).context["page_obj"].paginator.count == 0
    )
    yesterday = (today - timedelta(days=1)).isoformat()
    assert (
        admin.get(reverse("console:audit"), {"date_to": yesterday}).context["page_obj"].paginator.count == 0
    )
    # a malformed date is ignored rather than an error
    assert admin.get(reverse("console:audit"), {"date_from": "31/12/2020"}).status_code == 200
    assert admin.get(reverse("console:audit_export"), {"date_to": "2020-02-31"}).status_code == 200


def test_newest_first_and_paginated(admin, admin_user):
    for i in range(55):
        config.organization_create(actor=admin_user, source="console", code=f"o{i}", name=f"Org {i}")
    first = admin.get(reverse("console:audit"))
    seqs = [e.seq for e in first.context["page_obj"]]
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    second = admin.get(reverse("console:audit"), {"page": 2})
    assert len(second.context["page_obj"].object_list) == 5
    assert "Page 2 of 2" in second.content.decode()


def test_csv_export_streams_the_same_selection(admin, events):
    response = admin.get(reverse("console:audit_export"), {"actor": "console-admin"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="blazon-audit-')
    table = rows(response)
    header, body = table[0], table[1:]
    assert header[:4] == ["seq", "created_at", "actor", "action"]
    assert [r[header.index("action")] for r in body] == ["resource.create", "organization.create"]
    assert {r[header.index("actor")] for r in body} == {"console-admin"}


def test_csv_export_neutralises_formulas(admin, events):
    table = rows(admin.get(reverse("console:audit_export")))
    objects = [r[table[0].index("object")] for r in table[1:]]
    assert "'@SUM(A1:A9)" in objects
    assert '\'=HYPERLINK("http://x")' in objects
    assert "Operations" in objects
    for row in table[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("plain", "plain"),
        (None, ""),
        (7, "7"),
    ],
)
def test_csv_safe(value, expected):
    assert csv_safe(value) == expected


def test_the_export_link_carries_the_filters(admin, events):
    body = admin.get(reverse("console:audit"), {"actor": "operator", "source": "api"}).content.decode()
    assert 'href="/console/audit/export.csv?actor=operator&amp;source=api"' in body


def test_changes_read_as_a_before_and_after_table_never_as_python(admin, admin_user):
    from directory.services import users

    user = UserFactory(username="readable", first_name="Rita", job_title="Clerk")
    users.user_update(
        actor=admin_user,
        source="console",
        user=user,
        data={"job_title": "Senior clerk", "first_name": "Rita"},
    )
    page = admin.get(reverse("console:audit"), {"action": "user.update"}).content.decode()
    assert '<table class="changes">' in page
    assert '<th scope="row">Job title</th><td>Clerk</td><td>Senior clerk</td>' in page
    assert "{&#x27;" not in page and "{'" not in page  # no Python dict repr
    assert f"User #{user.pk}<" in page and "directory.User #" not in page  # the object's kind, in words


def test_readable_values():
    from types import SimpleNamespace

    from blazon.templatetags.blazon_display import changes, object_kind, readable, readable_items

    assert (
        object_kind("directory.Account") == "Account"
        and object_kind("requests_workflow.Request") == "Request"
    )
    assert object_kind("gone.Thing") == "Thing" and object_kind("") == ""
    assert readable(True) == "Yes" and readable(False) == "No" and readable(None) == "—"
    assert (
        readable(["a", "b"]) == "a, b"
        and readable({"cost_center": 7, "vip": False}) == "Cost center: 7; Vip: No"
    )
    assert readable_items({"password_reset": True, "emailed_to": "a@x"}) == [
        ("Password reset", "Yes"),
        ("Emailed to", "a@x"),
    ]
    event = SimpleNamespace(
        old_values={"status": "ACTIVE", "gone": 1}, new_values={"status": "INACTIVE", "employee_id": None}
    )
    assert changes(event) == [("Status", "ACTIVE", "INACTIVE"), ("Employee ID", "", "—"), ("Gone", "1", "")]

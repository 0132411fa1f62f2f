"""Console pages of the task SLA settings: administrators only; field errors on the forms and
nothing saved on bad input; deletion asks first and refuses what is in use."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole
from tests.api.factories import UserFactory
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import QueueFactory
from worklist.models import Calendar, EscalationPolicy, EscalationStep, Holiday, TaskDefinition

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"console_requests:{name}", args=args)


@pytest.fixture
def admin():
    return logged_in(UserFactory(username="root", console_role=ConsoleRole.ADMINISTRATOR))


@pytest.fixture
def config():
    calendar = Calendar.objects.create(name="Office")
    holiday = Holiday.objects.create(calendar=calendar, date="2026-12-25", name="Christmas")
    policy = EscalationPolicy.objects.create(name="Standard")
    step = EscalationStep.objects.create(policy=policy, position=1, after_hours=8, action="REMIND")
    definition = TaskDefinition.objects.create(
        name="Approvals", task_kind="APPROVAL", sla_hours=16, calendar=calendar, escalation_policy=policy
    )
    return {
        "calendar": calendar,
        "holiday": holiday,
        "policy": policy,
        "step": step,
        "definition": definition,
    }


def pages(c):
    return [
        url("calendars"),
        url("calendar_new"),
        url("calendar_detail", c["calendar"].pk),
        url("calendar_edit", c["calendar"].pk),
        url("calendar_delete", c["calendar"].pk),
        url("holiday_delete", c["holiday"].pk),
        url("definitions"),
        url("definition_new"),
        url("definition_edit", c["definition"].pk),
        url("definition_delete", c["definition"].pk),
        url("escalations"),
        url("escalation_new"),
        url("escalation_detail", c["policy"].pk),
        url("escalation_edit", c["policy"].pk),
        url("escalation_delete", c["policy"].pk),
        url("step_new", c["policy"].pk),
        url("step_edit", c["step"].pk),
        url("step_delete", c["step"].pk),
    ]


def counts():
    return (
        Calendar.objects.count(),
        Holiday.objects.count(),
        EscalationPolicy.objects.count(),
        EscalationStep.objects.count(),
        TaskDefinition.objects.count(),
        AuditEvent.objects.count(),
    )


def test_only_administrators(config, admin, client):
    helpdesk = logged_in(UserFactory(username="hd", console_role=ConsoleRole.HELPDESK))
    auditor = logged_in(UserFactory(username="aud", console_role=ConsoleRole.AUDITOR))
    employee = logged_in(UserFactory(username="emp"))
    before = counts()
    for page in pages(config):
        response = client.get(page)
        assert response.status_code == 302 and response.url.startswith("/login/"), page
        for who in (helpdesk, auditor, employee):
            assert who.get(page).status_code == 403, page
            assert who.post(page, {"name": "x", "sla_hours": "1", "after_hours": "1"}).status_code == 403, (
                page
            )
        assert admin.get(page).status_code == 200, page
    assert counts() == before


def test_links_in_the_console_nav_for_administrators_only(config, admin):
    page = admin.get(url("list")).content.decode()
    for name in ("definitions", "escalations", "calendars"):
        assert url(name) in page
    helpdesk = logged_in(UserFactory(username="hd", console_role=ConsoleRole.HELPDESK))
    assert url("calendars") not in helpdesk.get(url("list")).content.decode()


def test_calendar_create_edit_and_holidays(admin):
    response = admin.post(
        url("calendar_new"),
        {
            "name": "Lisbon office",
            "timezone": "Europe/Lisbon",
            "working_days": ["0", "1", "2", "3"],
            "day_start": "08:30",
            "day_end": "17:30",
        },
    )
    calendar = Calendar.objects.get(name="Lisbon office")
    assert response.status_code == 302 and response.url == url("calendar_detail", calendar.pk)
    assert calendar.working_days == [0, 1, 2, 3] and str(calendar.day_start) == "08:30:00"
    assert AuditEvent.objects.filter(action="calendar.create").exists()
    detail = admin.get(url("calendar_detail", calendar.pk)).content.decode()
    assert "Monday, Tuesday, Wednesday, Thursday" in detail

    admin.post(url("calendar_detail", calendar.pk), {"date": "2026-06-10", "name": "Portugal Day"})
    assert calendar.holidays.get().name == "Portugal Day"
    again = admin.post(url("calendar_detail", calendar.pk), {"date": "2026-06-10", "name": "Twice"})
    assert again.status_code == 200 and "already has a holiday on 2026-06-10" in again.content.decode()
    bad = admin.post(url("calendar_detail", calendar.pk), {"date": "10/06/2026x", "name": ""})
    assert bad.status_code == 200 and "Enter a valid date" in bad.content.decode()
    assert calendar.holidays.count() == 1

    holiday = calendar.holidays.get()
    confirm = admin.get(url("holiday_delete", holiday.pk))
    assert "Remove holiday" in confirm.content.decode() and Holiday.objects.filter(pk=holiday.pk).exists()
    admin.post(url("holiday_delete", holiday.pk))
    assert not calendar.holidays.exists()

    admin.post(
        url("calendar_edit", calendar.pk),
        {
            "name": "Lisbon",
            "timezone": "Europe/Lisbon",
            "working_days": ["0", "4"],
            "day_start": "09:00",
            "day_end": "18:00",
        },
    )
    calendar.refresh_from_db()
    assert calendar.name == "Lisbon" and calendar.working_days == [0, 4]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"timezone": "Mars/Olympus"}, "Select a valid choice"),
        ({"working_days": []}, "This field is required"),
        ({"working_days": ["9"]}, "Select a valid choice"),
        ({"day_start": "18:00", "day_end": "09:00"}, "must end after it starts"),
        ({"day_start": "25:99"}, "Enter a valid time"),
        ({"name": "Office"}, "already exists"),
    ],
)
def test_bad_calendar_input_changes_nothing(config, admin, data, error):
    before = counts()
    good = {"name": "New", "timezone": "UTC", "working_days": ["0"], "day_start": "09:00", "day_end": "17:00"}
    response = admin.post(url("calendar_new"), {**good, **data})
    assert response.status_code == 200 and error in response.content.decode()
    assert counts() == before
    response = admin.post(url("calendar_edit", config["calendar"].pk), {**good, "name": "Other", **data})
    if data.get("name") != "Office":
        assert response.status_code == 200 and error in response.content.decode()
        assert counts() == before
        config["calendar"].refresh_from_db()
        assert config["calendar"].name == "Office"


def test_delete_needs_confirmation_and_refuses_what_is_in_use(config, admin):
    calendar, policy = config["calendar"], config["policy"]
    page = admin.get(url("calendar_delete", calendar.pk)).content.decode()
    assert "1 task definition(s) use this calendar" in page
    refused = admin.post(url("calendar_delete", calendar.pk))
    assert (
        refused.status_code == 200 and "is used by task definition(s) Approvals" in refused.content.decode()
    )
    refused = admin.post(url("escalation_delete", policy.pk))
    assert "is used by task definition(s) Approvals" in refused.content.decode()
    assert (
        Calendar.objects.filter(pk=calendar.pk).exists()
        and EscalationPolicy.objects.filter(pk=policy.pk).exists()
    )

    admin.post(url("definition_delete", config["definition"].pk))
    assert not TaskDefinition.objects.exists()
    assert admin.post(url("calendar_delete", calendar.pk)).url == url("calendars")
    assert admin.post(url("escalation_delete", policy.pk)).url == url("escalations")
    assert not Calendar.objects.exists() and not EscalationPolicy.objects.exists()
    assert not Holiday.objects.exists() and not EscalationStep.objects.exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"task_definition.delete", "calendar.delete", "escalation_policy.delete"} <= actions


def test_task_definition_form(config, admin):
    data = {
        "name": "High grants",
        "task_kind": "APPROVAL",
        "request_types": ["GRANT_ENTITLEMENT", "GRANT_ROLE"],
        "criticality": "HIGH",
        "sla_hours": "4",
        "calendar": str(config["calendar"].pk),
        "escalation_policy": str(config["policy"].pk),
        "priority": "10",
        "active": "on",
    }
    assert admin.post(url("definition_new"), data).status_code == 302
    d = TaskDefinition.objects.get(name="High grants")
    assert d.request_types == ["GRANT_ENTITLEMENT", "GRANT_ROLE"] and d.calendar == config["calendar"]
    listing = admin.get(url("definitions")).content.decode()
    assert "High grants" in listing and "4 h" in listing

    before = counts()
    for bad, error in (
        ({"sla_hours": "0"}, "greater than or equal to 1"),
        ({"sla_hours": "abc"}, "Enter a whole number"),
        ({"task_kind": "NOPE"}, "Select a valid choice"),
        ({"request_types": ["NOPE"]}, "Select a valid choice"),
        ({"calendar": "99999"}, "Select a valid choice"),
        ({"name": "Approvals"}, "already exists"),
        ({"name": ""}, "This field is required"),
    ):
        response = admin.post(url("definition_new"), {**data, "name": "Another", **bad})
        assert response.status_code == 200 and error in response.content.decode(), bad
    assert counts() == before

    del data["active"]
    admin.post(url("definition_edit", d.pk), {**data, "sla_hours": "6"})
    d.refresh_from_db()
    assert d.sla_hours == 6 and not d.active


def test_escalation_policy_and_steps(admin):
    desk = QueueFactory(name="Escalations")
    UserFactory(username="backup")
    admin.post(url("escalation_new"), {"name": "Urgent", "description": "Fast lane"})
    policy = EscalationPolicy.objects.get(name="Urgent")
    steps = url("step_new", policy.pk)

    before = counts()
    for bad, error in (
        ({"action": "ESCALATE_QUEUE"}, "Choose the queue to escalate to"),
        ({"action": "ESCALATE_USERS"}, "Choose the users to escalate to"),
        ({"action": "ESCALATE_USERS", "users": "backup, ghost"}, "Unknown user(s): ghost"),
        ({"after_hours": "0"}, "greater than or equal to 1"),
        ({"after_hours": ""}, "This field is required"),
        ({"action": "EXPLODE"}, "Select a valid choice"),
    ):
        data = {"after_hours": "4", "action": "REMIND", **bad}
        response = admin.post(steps, data)
        assert response.status_code == 200 and error in response.content.decode(), bad
    assert counts() == before

    admin.post(steps, {"after_hours": "4", "action": "REMIND"})
    admin.post(steps, {"after_hours": "8", "action": "ESCALATE_QUEUE", "queue": str(desk.pk)})
    admin.post(
        steps, {"after_hours": "16", "action": "ESCALATE_USERS", "users": "backup", "keep_assignees": "on"}
    )
    remind, queue, users = policy.steps.order_by("position")
    assert (remind.position, queue.position, users.position) == (1, 2, 3)
    assert queue.queue == desk and not queue.keep_assignees
    assert list(users.users.values_list("username", flat=True)) == ["backup"] and users.keep_assignees
    duplicate = admin.post(steps, {"after_hours": "4", "action": "REMIND", "position": "1"})
    assert "already has a step at this position" in duplicate.content.decode()

    detail = admin.get(url("escalation_detail", policy.pk)).content.decode()
    assert "queue Escalations" in detail and "backup" in detail

    admin.post(url("step_edit", queue.pk), {"after_hours": "10", "action": "REMIND", "position": "2"})
    queue.refresh_from_db()
    assert queue.after_hours == 10 and queue.action == "REMIND" and queue.queue is None
    admin.post(url("step_delete", users.pk))
    assert policy.steps.count() == 2
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "escalation_policy.step_add",
        "escalation_policy.step_update",
        "escalation_policy.step_delete",
    } <= actions


def test_unknown_objects_are_404(admin):
    for page in (url("calendar_detail", 999), url("step_new", 999), url("definition_edit", 999)):
        assert admin.get(page).status_code == 404

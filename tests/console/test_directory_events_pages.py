"""The console's follow-up events pages (issue 12 item 5): the list of open events, one event's
page with its resolve form, and the denied cases."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import (
    AccountType,
    DirectoryEvent,
    DirectoryEventStatus,
    Role,
    SharedAccountMember,
    Source,
)
from directory.services import lifecycle
from tests.directory.test_lifecycle import account, make_resource, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(db):
    user = make_user(username="leaver")
    role = Role.objects.create(code="fin", name="Finance <b>", owner=user)
    shared = account(make_resource("social"), account_type=AccountType.SHARED, identifier="social")
    SharedAccountMember.objects.create(account=shared, user=user)
    make_user(username="heir")
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=user)
    return {"user": user, "role": role, "shared": shared}


def test_the_list_shows_open_events_and_the_dashboard_links_to_it(admin, events):
    body = admin.get(reverse("console:events")).content.decode()
    assert "Owner change" in body and "Shared account member inactivated" in body
    assert "Finance &lt;b&gt;" in body and "Finance <b>" not in body  # escaped
    dashboard = admin.get(reverse("console:dashboard")).content.decode()
    assert reverse("console:events") in dashboard


def test_admin_reassigns_a_role_owner_from_the_event_page(admin, events):
    event = DirectoryEvent.objects.get(kind="OWNER_CHANGE")
    page = admin.get(reverse("console:event_detail", args=[event.pk])).content.decode()
    assert 'id="resolve-form"' in page and "New owner / responsible chosen" in page
    response = admin.post(
        reverse("console:event_detail", args=[event.pk]),
        {"decision": "REASSIGN", "new_user": "heir", "note": "ok"},
    )
    assert response.status_code == 302
    assert Role.objects.get(pk=events["role"].pk).owner.username == "heir"
    event.refresh_from_db()
    assert event.status == DirectoryEventStatus.RESOLVED and event.note == "ok"
    assert f"Event #{event.pk} resolved." in admin.get(response.url).content.decode()


def test_an_unknown_username_is_a_form_error(admin, events):
    event = DirectoryEvent.objects.get(kind="OWNER_CHANGE")
    response = admin.post(
        reverse("console:event_detail", args=[event.pk]), {"decision": "REASSIGN", "new_user": "nobody"}
    )
    assert response.status_code == 200 and "No user" in response.content.decode()
    event.refresh_from_db()
    assert event.status == DirectoryEventStatus.OPEN


def test_helpdesk_removes_the_inactivated_member(helpdesk, events):
    event = DirectoryEvent.objects.get(kind="SHARED_MEMBER_REVIEW")
    response = helpdesk.post(reverse("console:event_detail", args=[event.pk]), {"decision": "REMOVE"})
    assert response.status_code == 302
    assert not SharedAccountMember.objects.filter(account=events["shared"]).exists()
    assert DirectoryEvent.objects.filter(kind="SHARED_MEMBER_REMOVED", status="OPEN").count() == 1


def test_helpdesk_cannot_change_a_role_owner_and_the_auditor_only_reads(helpdesk, auditor, events):
    event = DirectoryEvent.objects.get(kind="OWNER_CHANGE")
    assert (
        'id="resolve-form"'
        not in helpdesk.get(reverse("console:event_detail", args=[event.pk])).content.decode()
    )
    response = helpdesk.post(reverse("console:event_detail", args=[event.pk]), {"decision": "CONTINUITY"})
    assert response.status_code == 403
    assert auditor.get(reverse("console:events")).status_code == 200
    assert (
        auditor.post(reverse("console:event_detail", args=[event.pk]), {"decision": "CONTINUITY"}).status_code
        == 403
    )
    event.refresh_from_db()
    assert event.status == DirectoryEventStatus.OPEN


def test_a_user_without_console_role_gets_403(plain, events):
    assert plain.get(reverse("console:events")).status_code == 403

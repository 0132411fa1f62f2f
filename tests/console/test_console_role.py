"""The "Administrative role" form on a user's page: shown to and used by administrators only;
the service's refusals (the last administrator) come back as messages and change nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole, User
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db


def role_url(user) -> str:
    return reverse("console:console_role_set", args=[user.pk])


def detail(client, user) -> str:
    response = client.get(reverse("console:user_detail", args=[user.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_administrators_see_the_form_with_the_current_role(admin, world):
    bob = world["bob"]
    User.objects.filter(pk=bob.pk).update(console_role=ConsoleRole.AUDITOR)
    body = detail(admin, bob)
    assert 'id="console-role-form"' in body and role_url(bob) in body
    assert '<option value="AUDITOR" selected>' in body


def test_help_desk_and_auditors_do_not_see_it(helpdesk, auditor, world):
    for client in (helpdesk, auditor):
        body = detail(client, world["bob"])
        assert 'id="console-role-form"' not in body and role_url(world["bob"]) not in body


def test_an_administrator_makes_someone_help_desk(admin, admin_user, world):
    bob = world["bob"]
    response = admin.post(role_url(bob), {"role": "HELPDESK"}, follow=True)
    assert "bob now has Help desk." in response.content.decode()
    assert User.objects.get(pk=bob.pk).console_role == ConsoleRole.HELPDESK
    event = AuditEvent.objects.get(action="user.console_role_changed")
    assert event.actor_id == admin_user.pk and event.source == "console"
    # bob can now use the console's user pages
    assert logged_in(User.objects.get(pk=bob.pk)).get(reverse("console:users")).status_code == 200


def test_an_administrator_takes_a_role_away(admin, world):
    bob = world["bob"]
    User.objects.filter(pk=bob.pk).update(console_role=ConsoleRole.HELPDESK)
    admin.post(role_url(bob), {"role": ""})
    assert User.objects.get(pk=bob.pk).console_role == ""
    assert logged_in(User.objects.get(pk=bob.pk)).get(reverse("console:users")).status_code == 403


def test_the_last_administrator_cannot_step_down(admin, admin_user):
    response = admin.post(role_url(admin_user), {"role": "AUDITOR"}, follow=True)
    assert "You are the last administrator" in response.content.decode()
    assert User.objects.get(pk=admin_user.pk).console_role == ConsoleRole.ADMINISTRATOR
    assert not AuditEvent.objects.filter(action="user.console_role_changed").exists()


def test_an_unknown_role_changes_nothing(admin, world):
    response = admin.post(role_url(world["bob"]), {"role": "ROOT"}, follow=True)
    assert "Select a valid choice" in response.content.decode()
    assert User.objects.get(pk=world["bob"].pk).console_role == ""


def test_others_are_refused(helpdesk, auditor, plain, world, client):
    bob = world["bob"]
    for who in (helpdesk, auditor, plain):
        assert who.post(role_url(bob), {"role": "ADMINISTRATOR"}).status_code == 403
    assert client.post(role_url(bob), {"role": "ADMINISTRATOR"}).status_code == 302  # to the login page
    assert User.objects.get(pk=bob.pk).console_role == ""


def test_the_help_desk_cannot_promote_itself(helpdesk):
    me = User.objects.get(username="console-helpdesk")
    assert helpdesk.post(role_url(me), {"role": "ADMINISTRATOR"}).status_code == 403
    assert User.objects.get(pk=me.pk).console_role == ConsoleRole.HELPDESK


def test_role_changes_need_post_and_csrf(admin_user, world):
    client = logged_in(admin_user, enforce_csrf_checks=True)
    bob = world["bob"]
    assert client.get(role_url(bob)).status_code == 405
    assert client.post(role_url(bob), {"role": "ADMINISTRATOR"}).status_code == 403
    assert User.objects.get(pk=bob.pk).console_role == ""
    body = detail(client, bob)
    form = body[body.index('id="console-role-form"') :]
    assert 'name="csrfmiddlewaretoken"' in form[: form.index("</form>")]

"""Console pages: policies, dictionary, help-desk reset and the resource's synchronisation
setting; each capability-checked (denied cases included), bad input changes nothing."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from blazon.audit.models import AuditEvent
from passwords.models import (
    ForbiddenWord,
    PasswordChangePolicy,
    PasswordPolicy,
    PasswordState,
    ResourcePasswordSync,
)
from tests.api.factories import OrganizationFactory, ResourceFactory
from tests.passwords.conftest import OLD

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "Finance",
    "priority": 10,
    "organization": "",
    "attribute_name": "",
    "attribute_value": "",
    "min_length": 14,
    "require_lowercase": "on",
    "require_uppercase": "on",
    "require_digit": "on",
    "history_count": 6,
    "max_age_days": 90,
    "min_age_hours": 24,
    "use_dictionary": "on",
    "forbid_personal_info": "on",
}


def test_an_administrator_creates_edits_and_deletes_a_policy(admin):
    org = OrganizationFactory(code="fin", name="Finance")
    response = admin.post("/console/passwords/policies/new/", {**GOOD, "organization": org.pk})
    assert response.status_code == 302
    policy = PasswordPolicy.objects.get(name="Finance")
    assert policy.organization == org and policy.min_length == 14 and policy.max_age_days == 90
    assert AuditEvent.objects.filter(action="password_policy.created").exists()
    page = admin.get("/console/passwords/policies/").content.decode()
    assert "Finance" in page and "14+ characters" in page
    admin.post(
        f"/console/passwords/policies/{policy.pk}/edit/", {**GOOD, "organization": org.pk, "min_length": 16}
    )
    policy.refresh_from_db()
    assert policy.min_length == 16
    event = AuditEvent.objects.filter(action="password_policy.updated").get()
    assert event.old_values == {"min_length": 14} and event.new_values == {"min_length": 16}
    admin.post(f"/console/passwords/policies/{policy.pk}/delete/")
    assert not PasswordPolicy.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Say whom it applies to"),
        ({"attribute_name": "department"}, "Give both an attribute name and the value to match."),
        ({"min_length": 0}, "greater than or equal to 1"),
        ({"history_count": 99}, "less than or equal to 24"),
        ({"min_length": "ten"}, "Enter a whole number."),
    ],
)
def test_bad_policy_input_is_explained_and_saves_nothing(admin, data, message):
    response = admin.post("/console/passwords/policies/new/", {**GOOD, **data})
    assert response.status_code == 200 and message in response.content.decode()
    assert not PasswordPolicy.objects.exists()


def test_a_second_default_is_refused(admin):
    PasswordChangePolicy.objects.create(name="Everyone", is_default=True)
    response = admin.post(
        "/console/passwords/change-policies/new/",
        {"name": "Also everyone", "priority": 1, "is_default": "on", "require_current": "on"},
    )
    assert "Another policy is already the default" in response.content.decode()
    assert PasswordChangePolicy.objects.count() == 1


def test_change_policies_are_edited_too(admin):
    response = admin.post(
        "/console/passwords/change-policies/new/",
        {
            "name": "Everyone",
            "priority": 1,
            "is_default": "on",
            "require_current": "on",
            "recent_login_minutes": 15,
            "notify_user": "on",
            "min_interval_minutes": 60,
        },
    )
    assert response.status_code == 302
    policy = PasswordChangePolicy.objects.get()
    assert policy.recent_login_minutes == 15 and policy.min_interval_minutes == 60


def test_the_dictionary_page_adds_and_removes_words(admin):
    admin.post("/console/passwords/dictionary/", {"words": "Acme, Gotham\nacme"})
    assert list(ForbiddenWord.objects.values_list("word", flat=True)) == ["acme", "gotham"]
    bad = admin.post("/console/passwords/dictionary/", {"words": "ab"})
    assert "3 to 100 characters" in bad.content.decode() and ForbiddenWord.objects.count() == 2
    word = ForbiddenWord.objects.get(word="acme")
    admin.post(f"/console/passwords/dictionary/{word.pk}/remove/")
    assert list(ForbiddenWord.objects.values_list("word", flat=True)) == ["gotham"]


def test_configuration_is_denied_without_manage_config(helpdesk, auditor, plain, policy):
    word = ForbiddenWord.objects.create(word="acme")
    for client in (helpdesk, auditor):
        assert client.get("/console/passwords/policies/").status_code == 200  # read-only view
        assert client.get("/console/passwords/policies/new/").status_code == 403
        assert client.post("/console/passwords/policies/new/", GOOD).status_code == 403
        assert client.post(f"/console/passwords/policies/{policy.pk}/delete/").status_code == 403
        assert client.post("/console/passwords/dictionary/", {"words": "gotham"}).status_code == 403
        assert client.post(f"/console/passwords/dictionary/{word.pk}/remove/").status_code == 403
    for url in (
        "/console/passwords/policies/",
        "/console/passwords/change-policies/",
        "/console/passwords/dictionary/",
    ):
        assert plain.get(url).status_code == 403
        assert Client().get(url)["Location"].startswith("/login/")
    assert PasswordPolicy.objects.count() == 1 and ForbiddenWord.objects.count() == 1


def test_help_desk_sets_a_temporary_password_the_user_must_change(helpdesk, carol):
    response = helpdesk.post(f"/console/users/{carol.pk}/password/", {"action": "temporary"})
    page = response.content.decode()
    temporary = page.split('id="temporary-password"')[1].split("<code>")[1].split("</code>")[0]
    assert response["Cache-Control"] == "no-store"
    carol.refresh_from_db()
    assert carol.check_password(temporary) and PasswordState.objects.get(user=carol).must_change
    event = AuditEvent.objects.get(
        action="password.changed", subject_user_id=carol.pk, new_values__reason="helpdesk"
    )
    assert temporary not in str(event.new_values)


def test_help_desk_e_mails_a_reset_link(helpdesk, carol, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = helpdesk.post(f"/console/users/{carol.pk}/password/", {"action": "link"})
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["carol@example.com"] and "/password/reset/link/" in message.body
    carol.refresh_from_db()
    assert carol.check_password(OLD)  # nothing changes until the user uses the link


def test_help_desk_reset_is_denied_to_auditors_and_users(auditor, plain, carol):
    for client in (auditor, plain):
        assert client.get(f"/console/users/{carol.pk}/password/").status_code == 403
        assert client.post(f"/console/users/{carol.pk}/password/", {"action": "temporary"}).status_code == 403
    carol.refresh_from_db()
    assert carol.check_password(OLD)


def test_help_desk_reset_csrf(helpdesk_user, carol):
    client = Client(enforce_csrf_checks=True)
    client.force_login(helpdesk_user)
    assert client.post(f"/console/users/{carol.pk}/password/", {"action": "temporary"}).status_code == 403
    carol.refresh_from_db()
    assert carol.check_password(OLD)


def test_resource_synchronisation_is_switched_on_the_provisioning_tab(admin, helpdesk):
    erp = ResourceFactory(code="erp", name="ERP")
    tab = admin.get(f"/console/resources/{erp.pk}/?tab=provisioning").content.decode()
    assert "Password synchronisation" in tab and "Synchronise passwords</button>" in tab
    assert helpdesk.post(f"/console/resources/{erp.pk}/password-sync/", {"enabled": "1"}).status_code == 403
    assert not ResourcePasswordSync.objects.filter(enabled=True).exists()
    admin.post(f"/console/resources/{erp.pk}/password-sync/", {"enabled": "1"})
    assert ResourcePasswordSync.objects.get(resource=erp).enabled
    tab = admin.get(f"/console/resources/{erp.pk}/?tab=provisioning").content.decode()
    assert "The Change password event is disabled" in tab


def test_help_desk_cannot_reset_an_administrator_or_itself(helpdesk, helpdesk_user, admin, carol):
    from directory.models import ConsoleRole

    carol.console_role = ConsoleRole.ADMINISTRATOR
    carol.save(update_fields=["console_role"])
    for action in ("temporary", "link"):
        response = helpdesk.post(f"/console/users/{carol.pk}/password/", {"action": action}, follow=True)
        assert "only an administrator may reset their password" in response.content.decode()
    response = helpdesk.post(
        f"/console/users/{helpdesk_user.pk}/password/", {"action": "temporary"}, follow=True
    )
    assert "Change your own password" in response.content.decode()
    carol.refresh_from_db()
    assert carol.check_password(OLD) and not PasswordState.objects.get(user=carol).must_change
    # an administrator may
    assert (
        "temporary-password"
        in admin.post(f"/console/users/{carol.pk}/password/", {"action": "temporary"}).content.decode()
    )

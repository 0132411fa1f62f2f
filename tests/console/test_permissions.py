"""Who may open and do what in the console: anonymous users log in first, users without a
console role get 403, auditors only read, the help desk does not edit configuration."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import Resource, Role, User, UserStatus

pytestmark = pytest.mark.django_db

READ_PAGES = [
    ("console:dashboard", None),
    ("console:users", None),
    ("console:user_detail", "alice"),
    ("console:organizations", None),
    ("console:resources", None),
    ("console:accounts", None),
    ("console:entitlements", None),
    ("console:roles", None),
    ("console:role_detail", "role"),
    ("console:audit", None),
    ("console:audit_export", None),
]


def url(world, name, arg):
    return reverse(name, args=[world[arg].pk]) if arg else reverse(name)


def test_anonymous_is_sent_to_the_login_page(client, world):
    for name, arg in READ_PAGES:
        target = url(world, name, arg)
        response = client.get(target)
        assert response.status_code == 302, name
        assert response.url.startswith("/login/?next="), name


def test_a_user_without_console_role_gets_403_on_console_pages(plain, world):
    for name, arg in READ_PAGES:
        response = plain.get(url(world, name, arg))
        assert response.status_code == 403, name
    assert "Access denied" in plain.get(reverse("console:users")).content.decode()
    # ... but may use the workspace
    assert plain.get(reverse("workspace:home")).status_code == 200


def test_a_user_without_console_role_cannot_post_either(plain, world):
    response = plain.post(reverse("console_requests:user_action", args=[world["bob"].pk, "inactivate"]))
    assert response.status_code == 403
    assert User.objects.get(pk=world["bob"].pk).status == UserStatus.ACTIVE


def test_auditor_reads_everything_including_the_audit_log(auditor, world):
    for name, arg in READ_PAGES:
        assert auditor.get(url(world, name, arg)).status_code == 200, name


def test_auditor_sees_no_edit_or_action_buttons(auditor, world):
    body = auditor.get(reverse("console:user_detail", args=[world["bob"].pk])).content.decode()
    assert "Inactivate" not in body and "Remove…" not in body
    body = auditor.get(reverse("console:role_detail", args=[world["role"].pk])).content.decode()
    assert "Preview the change" not in body and ">Edit<" not in body


def test_auditor_cannot_post_config_forms(auditor, world):
    response = auditor.post(
        reverse("console:resource_new"), {"code": "sap", "name": "SAP", "criticality": "LOW"}
    )
    assert response.status_code == 403
    assert not Resource.objects.filter(code="sap").exists()
    response = auditor.post(reverse("console:role_edit", args=[world["role"].pk]), {"code": "x", "name": "X"})
    assert response.status_code == 403
    assert Role.objects.get(pk=world["role"].pk).name == "Developers"


def test_auditor_cannot_run_life_cycle_actions(auditor, world):
    bob = world["bob"]
    for action in ("inactivate", "revoke", "lock"):
        response = auditor.post(reverse("console_requests:user_action", args=[bob.pk, action]))
        assert response.status_code == 403, action
    response = auditor.post(
        reverse("console:user_remove", args=[bob.pk]), {"mode": "revoke", "confirm": "on"}
    )
    assert response.status_code == 403
    bob.refresh_from_db()
    assert bob.status == UserStatus.ACTIVE and not bob.login_locked


def test_auditor_cannot_change_a_role(auditor, world):
    role, admins = world["role"], world["admins"]
    preview = auditor.get(
        reverse("console:role_change_preview", args=[role.pk]),
        {"action": "ADD", "item": f"entitlement:{admins.pk}"},
    )
    assert preview.status_code == 403
    submit = auditor.post(
        reverse("console:role_change_submit", args=[role.pk]),
        {"action": "ADD", "item": f"entitlement:{admins.pk}"},
    )
    assert submit.status_code == 403
    assert not role.role_entitlements.filter(entitlement=admins).exists()


def test_helpdesk_cannot_edit_configuration(helpdesk, world):
    assert helpdesk.get(reverse("console:resource_new")).status_code == 403
    response = helpdesk.post(
        reverse("console:resource_edit", args=[world["github"].pk]), {"code": "github", "name": "Hacked"}
    )
    assert response.status_code == 403
    assert Resource.objects.get(pk=world["github"].pk).name == "GitHub"
    assert helpdesk.post(reverse("console:organization_new"), {"code": "x", "name": "X"}).status_code == 403
    assert helpdesk.get(reverse("console:entitlement_new")).status_code == 403


def test_helpdesk_has_no_audit_log_but_operates_users(helpdesk, world):
    assert helpdesk.get(reverse("console:audit")).status_code == 403
    assert helpdesk.get(reverse("console:audit_export")).status_code == 403
    body = helpdesk.get(reverse("console:user_detail", args=[world["bob"].pk])).content.decode()
    assert "Inactivate" in body
    assert "Remove…" not in body  # removal needs remove_users
    response = helpdesk.post(
        reverse("console:user_remove", args=[world["bob"].pk]), {"mode": "revoke", "confirm": "on"}
    )
    assert response.status_code == 403
    assert User.objects.get(pk=world["bob"].pk).status == UserStatus.ACTIVE


def test_an_inactive_console_user_loses_the_console(admin_user, admin, world):
    User.objects.filter(pk=admin_user.pk).update(status=UserStatus.INACTIVE)
    assert admin.get(reverse("console:dashboard")).status_code == 403
    assert admin.get(reverse("workspace:home")).status_code == 403

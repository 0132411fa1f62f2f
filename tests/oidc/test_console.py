"""Console pages of OIDC clients: least privilege, secrets shown once and stored hashed,
clear errors that change nothing, audit, and adapter clients kept apart."""

from __future__ import annotations

import pytest
from django.test import Client
from oauth2_provider.models import Application

from blazon.audit.models import AuditEvent
from oidc.models import ClientAccess, OIDCClient
from provisioning.services.adapter import adapter_client_register
from tests.api.factories import ResourceFactory, RoleFactory, UserFactory
from tests.oidc.conftest import REDIRECT, register
from tests.provisioning.conftest import keypair

FORM = {
    "name": "Expenses",
    "confidential": "1",
    "redirect_uris": "https://expenses.example.com/cb\nhttps://expenses.example.com/cb2",
    "post_logout_redirect_uris": "",
    "scopes": ["profile", "email"],
    "access": "EVERYONE",
}


def as_user(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_anonymous_goes_to_login(db):
    response = Client().get("/console/sso/oidc/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_workspace_user_is_denied(db):
    user = as_user(UserFactory())
    assert user.get("/console/sso/oidc/").status_code == 403
    assert user.post("/console/sso/oidc/new/", FORM).status_code == 403
    assert not OIDCClient.objects.exists()


def test_helpdesk_reads_but_cannot_change(helpdesk, rp):
    staff = as_user(helpdesk)
    page = staff.get("/console/sso/oidc/")
    assert page.status_code == 200 and b"Payroll" in page.content
    assert b"New OIDC client" not in page.content
    assert staff.get(f"/console/sso/oidc/{rp.client.pk}/").status_code == 200
    assert staff.post("/console/sso/oidc/new/", FORM).status_code == 403
    assert staff.post(f"/console/sso/oidc/{rp.client.pk}/edit/", {**FORM, "active": "on"}).status_code == 403
    assert staff.post(f"/console/sso/oidc/{rp.client.pk}/secret/").status_code == 403
    assert staff.post(f"/console/sso/oidc/{rp.client.pk}/delete/").status_code == 403
    assert OIDCClient.objects.count() == 1


def test_admin_creates_a_client_and_sees_the_secret_once(admin):
    boss = as_user(admin)
    response = boss.post("/console/sso/oidc/new/", FORM)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    assert len(secret) >= 64 and secret.encode() in response.content
    client = OIDCClient.objects.get(name="Expenses")
    app = client.application
    assert app.client_secret.startswith("blazon_client_secret$") and secret not in app.client_secret
    assert app.redirect_uris.split() == [
        "https://expenses.example.com/cb",
        "https://expenses.example.com/cb2",
    ]
    assert app.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert client.allowed_scopes == ["openid", "email", "profile"]
    # never again: the detail page shows the client id, not the secret
    detail = boss.get(f"/console/sso/oidc/{client.pk}/")
    assert app.client_id.encode() in detail.content and secret.encode() not in detail.content
    event = AuditEvent.objects.get(action="oidc_client.created")
    assert (
        event.actor_id == admin.pk
        and secret not in str(event.new_values)
        and app.client_secret not in str(event.new_values)
    )


def test_public_client_has_no_secret(admin):
    response = as_user(admin).post("/console/sso/oidc/new/", {**FORM, "confidential": "0"})
    assert response.status_code == 200 and response.context["secret"] is None
    app = OIDCClient.objects.get().application
    assert app.client_type == Application.CLIENT_PUBLIC and app.client_secret == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, b"This field is required"),
        ({"redirect_uris": "http://expenses.example.com/cb"}, b"is not an absolute https URI"),
        ({"redirect_uris": "https://*.example.com/cb"}, b"must not contain a fragment or a wildcard"),
        ({"redirect_uris": "https://expenses.example.com/cb#frag"}, b"must not contain a fragment"),
        ({"redirect_uris": "not a uri"}, b"is not an absolute https URI"),
        ({"scopes": ["adapter"]}, b"Select a valid choice"),
        ({"access": "ROLES"}, b"Choose at least one role"),
        ({"access": "ANYONE"}, b"Select a valid choice"),
    ],
)
def test_bad_input_is_reported_and_nothing_is_created(admin, change, message):
    response = as_user(admin).post("/console/sso/oidc/new/", {**FORM, **change})
    assert response.status_code == 400
    assert message in response.content
    assert not OIDCClient.objects.exists() and not Application.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="oidc_client").exists()


def test_duplicate_name_is_refused(admin, rp):
    response = as_user(admin).post("/console/sso/oidc/new/", {**FORM, "name": "Payroll"})
    assert response.status_code == 400 and b"already exists" in response.content
    assert OIDCClient.objects.count() == 1


def test_edit_changes_uris_access_and_is_audited(admin, rp):
    role = RoleFactory(name="Finance")
    data = {
        **FORM,
        "name": "Payroll",
        "redirect_uris": "https://payroll.example.com/cb",
        "access": ClientAccess.ROLES,
        "roles": [role.pk],
        "trusted": "on",
        "active": "on",
    }
    response = as_user(admin).post(f"/console/sso/oidc/{rp.client.pk}/edit/", data)
    assert response.status_code == 302
    rp.client.refresh_from_db()
    app = rp.client.application
    app.refresh_from_db()
    assert app.redirect_uris == "https://payroll.example.com/cb" and app.skip_authorization
    assert list(rp.client.roles.all()) == [role] and rp.client.access == ClientAccess.ROLES
    event = AuditEvent.objects.get(action="oidc_client.updated")
    assert event.old_values["redirect_uris"] == [REDIRECT]
    assert event.new_values["redirect_uris"] == ["https://payroll.example.com/cb"]


def test_bad_edit_changes_nothing(admin, rp):
    data = {**FORM, "name": "Payroll", "redirect_uris": "http://insecure.example.com/", "active": "on"}
    response = as_user(admin).post(f"/console/sso/oidc/{rp.client.pk}/edit/", data)
    assert response.status_code == 400
    rp.client.application.refresh_from_db()
    assert rp.client.application.redirect_uris == REDIRECT


def test_rotating_the_secret_shows_the_new_one_once_and_the_old_stops_working(admin, rp):
    response = as_user(admin).post(f"/console/sso/oidc/{rp.client.pk}/secret/")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    new_secret = response.context["secret"]
    assert new_secret != rp.secret
    app = Application.objects.get(pk=rp.client.application_id)
    assert app.client_secret.startswith("blazon_client_secret$")
    from oidc.hashers import ClientSecretHasher

    assert ClientSecretHasher().verify(new_secret, app.client_secret)
    assert not ClientSecretHasher().verify(rp.secret, app.client_secret)
    assert AuditEvent.objects.filter(action="oidc_client.secret_rotated").count() == 1


def test_delete_removes_the_application(admin, rp):
    response = as_user(admin).post(f"/console/sso/oidc/{rp.client.pk}/delete/")
    assert response.status_code == 302
    assert not OIDCClient.objects.exists() and not Application.objects.exists()
    assert AuditEvent.objects.filter(action="oidc_client.deleted").count() == 1


def test_create_without_csrf_token_is_refused(admin):
    response = as_user(admin, enforce_csrf_checks=True).post("/console/sso/oidc/new/", FORM)
    assert response.status_code == 403
    assert not OIDCClient.objects.exists()


def test_names_are_escaped(admin):
    register(name='<script>alert("x")</script>')
    page = as_user(admin).get("/console/sso/oidc/")
    assert b'<script>alert("x")</script>' not in page.content
    assert b"&lt;script&gt;" in page.content


def test_adapter_clients_are_not_listed_as_oidc_clients(admin, rp):
    adapter_client_register(
        actor=None,
        source="console",
        name="ldap-adapter",
        resources=[ResourceFactory()],
        public_key=keypair()[1],
    )
    page = as_user(admin).get("/console/sso/oidc/")
    assert b"ldap-adapter" not in page.content and b"Payroll" in page.content
    assert list(page.context["clients"]) == [rp.client]


def test_list_queries_do_not_grow_with_clients(admin, django_assert_max_num_queries):
    role = RoleFactory()
    for n in range(6):
        register(name=f"App {n}", access=ClientAccess.ROLES, roles=[role])
    boss = as_user(admin)
    with django_assert_max_num_queries(10):
        assert boss.get("/console/sso/oidc/").status_code == 200


def test_rename_alone_is_audited(admin, rp):
    data = {**FORM, "name": "Payroll 2", "redirect_uris": REDIRECT, "active": "on"}
    data["post_logout_redirect_uris"] = "https://rp.example.com/signed-out"
    assert as_user(admin).post(f"/console/sso/oidc/{rp.client.pk}/edit/", data).status_code == 302
    event = AuditEvent.objects.get(action="oidc_client.updated")
    assert event.old_values == {"name": "Payroll"} and event.new_values == {"name": "Payroll 2"}

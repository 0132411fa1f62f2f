"""CSRF on every form and HTML escaping of user-controlled text."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import Organization, Resource, User, UserStatus
from tests.api.factories import AccountFactory, ResourceFactory, UserFactory
from tests.console.conftest import PASSWORD, logged_in, with_password

pytestmark = pytest.mark.django_db
XSS = "<script>alert(1)</script>"


@pytest.fixture
def csrf_admin(admin_user):
    return logged_in(admin_user, enforce_csrf_checks=True)


def test_posts_without_csrf_token_are_refused(csrf_admin, world):
    bob = world["bob"]
    posts = [
        (reverse("console_requests:user_action", args=[bob.pk, "inactivate"]), {}),
        (reverse("console:resource_new"), {"code": "sap", "name": "SAP", "criticality": "LOW"}),
        (reverse("console:organization_new"), {"code": "hr", "name": "HR"}),
        (
            reverse("console:role_change_submit", args=[world["role"].pk]),
            {"action": "ADD", "item": f"entitlement:{world['admins'].pk}"},
        ),
        (reverse("console:logout"), {}),
    ]
    for url, data in posts:
        assert csrf_admin.post(url, data).status_code == 403, url
    assert User.objects.get(pk=bob.pk).status == UserStatus.ACTIVE
    assert not Resource.objects.filter(code="sap").exists()
    assert not Organization.objects.filter(code="hr").exists()
    assert not world["role"].role_entitlements.filter(entitlement=world["admins"]).exists()


def test_a_form_post_with_the_pages_csrf_token_works(csrf_admin):
    page = csrf_admin.get(reverse("console:organization_new"))
    token = page.context["csrf_token"]
    assert f'name="csrfmiddlewaretoken" value="{token}"' in page.content.decode()
    response = csrf_admin.post(
        reverse("console:organization_new"), {"code": "hr", "name": "HR", "csrfmiddlewaretoken": str(token)}
    )
    assert response.status_code == 302
    assert Organization.objects.filter(code="hr", name="HR").exists()


def test_login_form_enforces_csrf():
    from django.test import Client

    with_password(username="root")
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("console:login"), {"username": "root", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_script_in_user_name_is_escaped_on_lists_and_detail(admin):
    evil = UserFactory(
        username="evil", first_name=XSS, last_name=XSS, department=XSS, attributes={"note": XSS}
    )
    res = ResourceFactory(name=XSS)
    AccountFactory(owner=evil, resource=res, identifier=XSS)
    pages = [
        reverse("console:users"),
        reverse("console:user_detail", args=[evil.pk]),
        reverse("console:user_detail", args=[evil.pk]) + "?tab=accounts",
        reverse("console:accounts"),
        reverse("console:resources"),
        reverse("console:resource_detail", args=[res.pk]) + "?tab=accounts",
        reverse("console:dashboard"),
    ]
    for url in pages:
        body = admin.get(url).content.decode()
        assert XSS not in body, url
    body = admin.get(reverse("console:user_detail", args=[evil.pk])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_chart_data_is_json_escaped(admin):
    ResourceFactory(name="</script><script>alert(1)</script>")
    from directory.models import Account

    Account.objects.create(resource=Resource.objects.get(code__startswith="res-"), identifier="x")
    body = admin.get(reverse("console:dashboard")).content.decode()
    assert "</script><script>alert(1)" not in body
    assert "\\u003C/script\\u003E\\u003Cscript\\u003Ealert(1)" in body


def test_workspace_escapes_my_own_name(world):
    me = UserFactory(username="me", first_name=XSS)
    body = logged_in(me).get(reverse("workspace:home")).content.decode()
    assert XSS not in body and "&lt;script&gt;" in body

"""Every console page renders for an administrator and shows the directory's data."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.services import config

pytestmark = pytest.mark.django_db


def pages(w):
    role, alice = w["role"], w["alice"]
    return [
        ("console:dashboard", [], "Dashboard"),
        ("console:users", [], "alice"),
        ("console:user_detail", [alice.pk], "Alice"),
        ("console:organizations", [], "Finance"),
        ("console:organization_detail", [w["org"].pk], "alice"),
        ("console:organization_new", [], "New organization"),
        ("console:organization_edit", [w["org"].pk], "Finance"),
        ("console:resources", [], "GitHub"),
        ("console:resource_detail", [w["github"].pk], "GitHub"),
        ("console:resource_new", [], "New resource"),
        ("console:resource_edit", [w["github"].pk], "github"),
        ("console:accounts", [], "alice-gh"),
        ("console:account_detail", [w["alice_acct"].pk], "GitHub readers"),
        ("console:entitlements", [], "GitHub admins"),
        ("console:entitlement_detail", [w["readers"].pk], "alice-gh"),
        ("console:entitlement_new", [], "New entitlement"),
        ("console:entitlement_edit", [w["readers"].pk], "gh-readers"),
        ("console:roles", [], "Developers"),
        ("console:role_detail", [role.pk], "GitHub readers"),
        ("console:role_new", [], "New role"),
        ("console:role_edit", [role.pk], "developers"),
        ("console:audit", [], "Audit log"),
    ]


def test_every_console_page_renders_for_an_administrator(admin, world):
    for name, args, expected in pages(world):
        response = admin.get(reverse(name, args=args))
        assert response.status_code == 200, name
        assert expected in response.content.decode(), name


@pytest.mark.parametrize("tab", ["attributes", "accounts", "entitlements", "roles", "history", "events"])
def test_user_detail_tabs(admin, world, tab):
    response = admin.get(reverse("console:user_detail", args=[world["alice"].pk]), {"tab": tab})
    assert response.status_code == 200
    body = response.content.decode()
    if tab == "accounts":
        assert "alice-gh" in body and "Role: Developers" in body
    if tab == "entitlements":
        assert "GitHub readers" in body and "Role: Developers" in body
    if tab == "roles":
        assert "Developers" in body


def test_bob_manual_entitlement_says_manual(admin, world):
    body = admin.get(
        reverse("console:user_detail", args=[world["bob"].pk]), {"tab": "entitlements"}
    ).content.decode()
    assert "GitHub admins" in body
    assert "Manual" in body
    assert "Role: Developers" not in body


@pytest.mark.parametrize("tab", ["overview", "provisioning", "entitlements", "accounts"])
def test_resource_tabs(admin, world, tab):
    assert (
        admin.get(reverse("console:resource_detail", args=[world["github"].pk]), {"tab": tab}).status_code
        == 200
    )


@pytest.mark.parametrize("tab", ["items", "members", "changes"])
def test_role_tabs(admin, world, tab):
    response = admin.get(reverse("console:role_detail", args=[world["role"].pk]), {"tab": tab})
    assert response.status_code == 200
    if tab == "members":
        assert "alice" in response.content.decode()


def test_dashboard_counts_and_chart_data(admin, admin_user, world):
    config.role_update(actor=admin_user, source="console", role=world["role"], data={"name": "Devs"})
    response = admin.get(reverse("console:dashboard"))
    body = response.content.decode()
    assert response.context["users_total"] == 3  # admin, alice, bob
    assert response.context["accounts_total"] == 2
    assert '<script id="chart-resources" type="application/json">' in body
    assert "vendor/chart.umd.min.js" in body
    assert "role.update" in body  # recent changes from the audit log


def test_user_list_search_filter_and_paging(admin, world):
    body = admin.get(reverse("console:users"), {"q": "liddell"}).content.decode()
    assert "alice" in body and ">bob<" not in body
    body = admin.get(reverse("console:users"), {"status": "INACTIVE"}).content.decode()
    assert "No users match" in body
    response = admin.get(reverse("console:users"), {"o": "-username", "page": "99"})
    assert response.status_code == 200
    names = [u.username for u in response.context["object_list"]]
    assert names == sorted(names, reverse=True)


def test_user_list_sort_ignores_unknown_columns(admin, world):
    response = admin.get(reverse("console:users"), {"o": "password"})
    assert response.status_code == 200
    assert response.context["order"] == ""


def test_unknown_objects_are_404(admin, world):
    assert admin.get(reverse("console:user_detail", args=[999999])).status_code == 404
    assert admin.get(reverse("console:role_detail", args=[999999])).status_code == 404


@pytest.mark.parametrize(
    "name",
    ["console:users", "console:accounts", "console:entitlements", "console:roles", "console:resources"],
)
def test_list_pages_do_not_query_per_row(admin, world, name, django_assert_max_num_queries):
    from tests.api.factories import AccountFactory, UserFactory

    for i in range(30):
        AccountFactory(
            owner=UserFactory(username=f"bulk{i}", organization=world["org"]), resource=world["github"]
        )
    with django_assert_max_num_queries(12):
        assert admin.get(reverse(name)).status_code == 200


def test_user_detail_does_not_query_per_row(admin, world, django_assert_max_num_queries):
    from tests.api.factories import AccountFactory, ResourceFactory

    alice = world["alice"]
    for _ in range(20):
        AccountFactory(owner=alice, resource=ResourceFactory())
    for tab in ("accounts", "entitlements", "roles", "history"):
        with django_assert_max_num_queries(14):
            assert admin.get(reverse("console:user_detail", args=[alice.pk]), {"tab": tab}).status_code == 200

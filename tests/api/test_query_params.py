"""Lists refuse query parameters they do not know and support the filters integrators expect
(issue 12, item 11): ``GET /api/v1/users/?username=admin`` used to ignore the parameter and
answer every user, admin first, so a script taking ``results[0]`` acted on the wrong user."""

from __future__ import annotations

import pytest

from directory.models import AttributeScope, AttributeType
from tests.api.factories import AttributeDefinitionFactory, UserFactory
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    UserFactory(username="ana", email="ana@example.com", attributes={"employee_number": "E1001", "badge": 7})
    UserFactory(username="bia", email="bia@example.com", attributes={"employee_number": "E1002", "badge": 8})
    UserFactory(username="caio", email="caio@example.com", attributes={"employee_number": "E1003"})
    AttributeDefinitionFactory(scope=AttributeScope.USER, name="employee_number", label="Employee number")
    AttributeDefinitionFactory(
        scope=AttributeScope.USER, name="badge", label="Badge", type=AttributeType.INTEGER
    )


def usernames(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(u["username"] for u in response.json()["results"])


def test_username_and_email_filters_exact_and_in(admin, people):
    assert usernames(admin.get("/api/v1/users/?username=bia")) == ["bia"]
    assert usernames(admin.get("/api/v1/users/?username=nobody")) == []
    assert usernames(admin.get("/api/v1/users/?email=caio@example.com")) == ["caio"]
    assert usernames(admin.get("/api/v1/users/?username__in=ana,caio,ghost")) == ["ana", "caio"]
    assert usernames(admin.get("/api/v1/users/?email__in=ana@example.com,bia@example.com")) == ["ana", "bia"]


def test_employee_number_is_an_attribute_filter_exact_and_in(admin, people):
    assert usernames(admin.get("/api/v1/users/?attributes.employee_number=E1002")) == ["bia"]
    assert usernames(admin.get("/api/v1/users/?attributes.employee_number__in=E1001,E1003")) == [
        "ana",
        "caio",
    ]
    assert usernames(admin.get("/api/v1/users/?attributes.badge=8")) == ["bia"]  # typed: 8, not "8"
    assert usernames(admin.get("/api/v1/users/?attributes.badge__in=7,8")) == ["ana", "bia"]
    error = assert_error(admin.get("/api/v1/users/?attributes.badge=eight"), 400, "validation_failed")
    assert "whole number" in error["fields"]["attributes.badge"][0]


def test_an_unknown_query_parameter_is_400_naming_the_allowed_ones(admin, people):
    error = assert_error(admin.get("/api/v1/users/?usrname=admin"), 400, "validation_failed")
    allowed = error["fields"]["usrname"][0]
    for name in ("username", "username__in", "email", "search", "ordering", "page", "page_size"):
        assert name in allowed
    assert "attributes.employee_number" in allowed
    assert "usrname" in error["message"]
    assert_error(admin.get("/api/v1/users/?attributes.shoe_size=44"), 400, "validation_failed")
    assert_error(admin.get("/api/v1/users/?employee_number=E1002"), 400, "validation_failed")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/organizations/",
        "/api/v1/resources/",
        "/api/v1/accounts/",
        "/api/v1/entitlements/",
        "/api/v1/entitlement-memberships/",
        "/api/v1/roles/",
        "/api/v1/role-memberships/",
        "/api/v1/role-changes/",
        "/api/v1/attribute-definitions/",
        "/api/v1/requests/",
        "/api/v1/tasks/",
        "/api/v1/delegations/",
        "/api/v1/provisioning-entries/",
    ],
)
def test_every_list_refuses_unknown_parameters_and_keeps_its_own(admin, url):
    assert_error(admin.get(f"{url}?no_such_filter=1"), 400, "validation_failed")
    assert admin.get(f"{url}?page=1&page_size=10&ordering=id&format=json").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/tasks/?all=1",
        "/api/v1/tasks/?status=OPEN",
        "/api/v1/delegations/?all=1&state=ACTIVE",
        "/api/v1/requests/?created_after=2020-01-01&search=x",
        "/api/v1/accounts/?owner=null&search=x",
        "/api/v1/resources/?owners__in=1,2",
    ],
)
def test_documented_list_parameters_still_work(admin, query):
    assert admin.get(query).status_code == 200


def test_a_detail_ignores_query_parameters(admin, people):
    user = UserFactory(username="dora")
    assert admin.get(f"/api/v1/users/{user.pk}/?anything=1").status_code == 200

"""One JSON error format for every 4xx: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import pytest

from directory.models import Organization, Resource
from tests.api.factories import AccountFactory, OrganizationFactory, ResourceFactory
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_validation_error_names_each_field(admin):
    response = admin.post(
        "/api/v1/resources/", {"name": "", "criticality": "EXTREME", "self_service": "maybe"}, format="json"
    )
    error = assert_error(response, 400, "validation_failed")
    assert set(error["fields"]) == {"code", "name", "criticality", "self_service"}
    assert error["fields"]["code"] == ["This field is required."]
    assert "EXTREME" in error["fields"]["criticality"][0]
    assert "code: This field is required." in error["message"]
    assert Resource.objects.count() == 0


def test_nested_field_errors_are_flattened_with_dotted_names(admin):
    response = admin.post(
        "/api/v1/resources/",
        {"code": "sap", "name": "SAP", "provisioning_modes": {"CREATE_ACCOUNT": "SOMETIMES"}},
        format="json",
    )
    error = assert_error(response, 400, "validation_failed")
    assert list(error["fields"]) == ["provisioning_modes.CREATE_ACCOUNT"]


def test_malformed_json_is_400_with_a_clear_message(admin):
    response = admin.generic(
        "POST", "/api/v1/organizations/", '{"code": "hr", "name": ', content_type="application/json"
    )
    error = assert_error(response, 400, "parse_error")
    assert "JSON parse error" in error["message"]
    assert Organization.objects.count() == 0


def test_json_that_is_not_an_object_is_400(admin):
    response = admin.generic("POST", "/api/v1/organizations/", '["hr"]', content_type="application/json")
    error = assert_error(response, 400, "validation_failed")
    assert "non_field_errors" in error["fields"]
    assert Organization.objects.count() == 0


def test_wrong_content_type_is_415(admin):
    response = admin.generic("POST", "/api/v1/organizations/", "code=hr&name=HR", content_type="text/plain")
    error = assert_error(response, 415, "unsupported_media_type")
    assert "text/plain" in error["message"]
    assert Organization.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/users/999999/",
        "/api/v1/organizations/999999/",
        "/api/v1/resources/999999/",
        "/api/v1/accounts/999999/",
        "/api/v1/entitlements/999999/",
        "/api/v1/entitlement-memberships/999999/",
        "/api/v1/roles/999999/",
        "/api/v1/role-memberships/999999/",
        "/api/v1/role-changes/999999/",
        "/api/v1/attribute-definitions/999999/",
        "/api/v1/users/not-a-number/",
    ],
)
def test_unknown_id_is_404(auditor, url):
    error = assert_error(auditor.get(url), 404, "not_found")
    assert error["message"]


def test_unknown_id_message_names_the_object(auditor):
    error = assert_error(auditor.get("/api/v1/roles/424242/"), 404, "not_found")
    assert error["message"] == "No role with id 424242."
    error = assert_error(auditor.get("/api/v1/entitlement-memberships/7/"), 404, "not_found")
    assert error["message"] == "No entitlement membership with id 7."


def test_update_or_delete_of_an_unknown_id_is_404(admin):
    assert_error(admin.patch("/api/v1/organizations/999999/", {"name": "X"}, format="json"), 404, "not_found")
    assert_error(admin.delete("/api/v1/roles/999999/"), 404, "not_found")


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_path_under_api_is_a_json_404(admin, method):
    error = assert_error(getattr(admin, method)("/api/v1/no-such-thing/"), 404, "not_found")
    assert "/api/v1/no-such-thing/" in error["message"]


def test_missing_trailing_slash_says_so(admin):
    error = assert_error(admin.get("/api/v1/users"), 404, "not_found")
    assert "Did you mean /api/v1/users/" in error["message"]


def test_unknown_path_is_404_even_for_anonymous_callers(anon):
    assert_error(anon.get("/api/v2/users/"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/users/"),
        ("delete", "/api/v1/accounts/{account}/"),
        ("put", "/api/v1/entitlement-memberships/"),
        ("post", "/api/v1/role-memberships/"),
        ("delete", "/api/v1/username-policy/"),
        ("post", "/api/v1/username-policy/"),
    ],
)
def test_method_not_allowed_is_405(admin, method, url):
    account = AccountFactory()
    response = getattr(admin, method)(url.format(account=account.pk), {}, format="json")
    error = assert_error(response, 405, "method_not_allowed")
    assert method.upper() in error["message"]


def test_conflict_is_409_and_names_what_is_in_the_way(admin):
    resource = ResourceFactory(code="ad")
    AccountFactory(resource=resource)
    AccountFactory(resource=resource)
    error = assert_error(admin.delete(f"/api/v1/resources/{resource.pk}/"), 409, "conflict")
    assert "2 account(s)" in error["message"]
    assert error["fields"] == {"accounts": ["2 account(s)"]}
    assert Resource.objects.filter(pk=resource.pk).exists()


def test_duplicate_code_is_409(admin):
    OrganizationFactory(code="hr")
    error = assert_error(
        admin.post("/api/v1/organizations/", {"code": "hr", "name": "HR"}, format="json"), 409, "conflict"
    )
    assert "already exists" in error["fields"]["code"][0]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=SLEEPING", "status"),
        ("login_locked=maybe", "login_locked"),
        ("organization=abc", "organization"),
    ],
)
def test_impossible_filter_values_are_400_not_an_empty_page(auditor, query, field):
    error = assert_error(auditor.get(f"/api/v1/users/?{query}"), 400, "validation_failed")
    assert field in error["fields"]


def test_page_out_of_range_is_404(auditor):
    error = assert_error(auditor.get("/api/v1/users/?page=99"), 404, "not_found")
    assert "Invalid page" in error["message"]


def test_error_format_is_the_same_for_403(plain):
    assert_error(plain.get("/api/v1/users/"), 403, "permission_denied")

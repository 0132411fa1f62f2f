"""The adapter API needs an OAuth2 client-credentials token of an active adapter client, and an
adapter only ever sees and reports the entries of its own resources."""

from __future__ import annotations

import pytest
from oauth2_provider.models import AccessToken, Application
from rest_framework.test import APIClient

from blazon.api.authentication import issue_token
from directory.models import ConsoleRole
from provisioning.models import EntryStatus
from tests.api.factories import UserFactory
from tests.provisioning.conftest import api_for, make_entry

pytestmark = pytest.mark.django_db


def test_no_or_bad_token_is_401(world):
    for api in (APIClient(), api_for("not-a-token")):
        response = api.post("/api/v1/adapter/pull/", {}, format="json")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_personal_api_token_is_not_an_adapter_token(world):
    _, raw = issue_token(UserFactory(username="root", console_role=ConsoleRole.ADMINISTRATOR))
    assert api_for(raw).post("/api/v1/adapter/pull/", {}, format="json").status_code == 401


def test_the_token_endpoint_refuses_a_wrong_secret(world):
    client_id, _ = world["erp_creds"]
    response = APIClient().post(
        "/o/token/", {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"}
    )
    assert response.status_code == 401
    assert "access_token" not in response.json()


def test_client_secret_is_stored_hashed(world):
    _, secret = world["erp_creds"]
    assert Application.objects.get(pk=world["erp_client"].application_id).client_secret != secret


def test_a_token_of_another_oauth_application_is_403(world):
    other = Application.objects.create(
        name="not an adapter",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret="s3cret-s3cret",
    )
    response = APIClient().post(
        "/o/token/",
        {"grant_type": "client_credentials", "client_id": other.client_id, "client_secret": "s3cret-s3cret"},
    )
    assert response.status_code == 200
    api = api_for(response.json()["access_token"])
    assert api.post("/api/v1/adapter/pull/", {}, format="json").status_code == 403


def test_an_inactive_client_or_a_token_without_the_scope_is_403(world, erp_api):
    token = AccessToken.objects.get(application_id=world["erp_client"].application_id)
    token.scope = "read"
    token.save()
    assert erp_api.post("/api/v1/adapter/pull/", {}, format="json").status_code == 403
    token.scope = "adapter"
    token.save()
    assert erp_api.get("/api/v1/adapter/me/").json()["resources"] == ["erp"]
    world["erp_client"].active = False
    world["erp_client"].save()
    assert erp_api.get("/api/v1/adapter/me/").status_code == 403


def test_an_adapter_sees_and_reports_only_its_resources(world, erp_api, crm_api):
    erp_entry = make_entry(world["erp"], account=world["account"])
    crm_entry = make_entry(world["crm"])
    pulled = crm_api.post("/api/v1/adapter/pull/", {}, format="json").json()["entries"]
    assert [e["id"] for e in pulled] == [crm_entry.pk]
    # the ERP entry is not there for the CRM adapter, whatever it tries
    for action, body in (("lease", {}), ("success", {}), ("failure", {"reason": "x", "final": True})):
        response = crm_api.post(f"/api/v1/adapter/entries/{erp_entry.pk}/{action}/", body, format="json")
        assert response.status_code == 404, action
        assert response.json()["error"]["code"] == "not_found"
    erp_entry.refresh_from_db()
    assert erp_entry.status == EntryStatus.PENDING and erp_entry.lease_owner is None
    pulled = erp_api.post("/api/v1/adapter/pull/", {}, format="json").json()["entries"]
    assert [e["id"] for e in pulled] == [erp_entry.pk]
    # and the ERP adapter cannot report the CRM adapter's entry
    assert (
        erp_api.post(f"/api/v1/adapter/entries/{crm_entry.pk}/success/", {}, format="json").status_code == 404
    )


def test_schema_documents_the_adapter_api_and_the_eleven_events(anon_schema):
    schema = anon_schema
    scheme = schema["components"]["securitySchemes"]["adapterOAuth2"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/o/token/"
    assert set(scheme["flows"]["clientCredentials"]["scopes"]) == {"adapter"}
    for path in (
        "/api/v1/adapter/pull/",
        "/api/v1/adapter/entries/{entry_id}/lease/",
        "/api/v1/adapter/entries/{entry_id}/success/",
        "/api/v1/adapter/entries/{entry_id}/failure/",
    ):
        assert schema["paths"][path]["post"]["security"] == [{"adapterOAuth2": ["adapter"]}], path
    events = schema["components"]["schemas"]["ProvisioningEventEnum"]["enum"]
    assert len(events) == 11 and {"CREATE_ACCOUNT", "GRANT_ENTITLEMENT", "REMOVE_ENTITLEMENT"} <= set(events)
    assert "WAITING_FAILOVER_RESOLVING" in schema["components"]["schemas"]["EntryStatusEnum"]["enum"]


@pytest.fixture
def anon_schema(db):
    import yaml

    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_token_endpoint_takes_http_basic_client_authentication(world):
    import base64

    client_id, secret = world["erp_creds"]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = APIClient().post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200 and response.json()["scope"] == "adapter"
    assert api_for(response.json()["access_token"]).get("/api/v1/adapter/me/").status_code == 200

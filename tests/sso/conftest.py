"""SAML IdP test set-up: an IdP signing key of a test size, a registered SP, and python3-saml
(OneLogin) acting as that SP against the Django test client."""

from __future__ import annotations

import pytest
from django.test import Client

from directory.models import AccountStatus
from sso import services
from sso.keys import idp_key_ensure
from sso.models import BINDING_POST, AccessRule, NameIDFormat
from tests.api.factories import AccountFactory, ResourceFactory, UserFactory
from tests.console.conftest import admin, admin_user, auditor, helpdesk  # noqa: F401 - shared fixtures
from tests.sso import samlsp

IDP = "http://idp.example.test"  # BLAZON_BASE_URL (python3-saml refuses host names without a dot)
SP_ENTITY = "https://sp.example.test/metadata"
ACS = "https://sp.example.test/acs"
SLO = "https://sp.example.test/sls"


@pytest.fixture(autouse=True)
def _idp_settings(settings):
    settings.BLAZON_SAML_KEY_SIZE = 2048  # generation speed; production default is 3072
    settings.BLAZON_BASE_URL = IDP


@pytest.fixture
def idp_cert(db):
    return idp_key_ensure().certificate


@pytest.fixture
def app_resource(db):
    return ResourceFactory(code="crm", name="CRM")


def sp_data(**overrides):
    _, cert = samlsp.keypair()
    data = {
        "name": "CRM",
        "entity_id": SP_ENTITY,
        "enabled": True,
        "acs_endpoints": [{"url": ACS, "binding": BINDING_POST}],
        "slo_url": SLO,
        "certificate": cert,
        "require_signed_requests": False,
        "nameid_format": NameIDFormat.PERSISTENT,
        "attribute_mapping": {
            "mail": "email",
            "givenName": "first_name",
            "costCenter": "attributes.cost_center",
        },
        "access_rule": AccessRule.RESOURCE_ACCOUNT,
    }
    data.update(overrides)
    return data


@pytest.fixture
def sp(db, app_resource):
    return services.service_provider_create(actor=None, source="test", data=sp_data(resource=app_resource))


@pytest.fixture
def alice(db, app_resource):
    user = UserFactory(
        username="alice", email="alice@example.com", first_name="Alice", attributes={"cost_center": "CC-42"}
    )
    AccountFactory(owner=user, resource=app_resource, identifier="alice", status=AccountStatus.ACTIVE)
    return user


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def sp_settings(idp_cert):
    def make(**kwargs):
        return samlsp.settings_for(
            idp_base=IDP, idp_cert=idp_cert, sp_entity=SP_ENTITY, acs_url=ACS, **kwargs
        )

    return make


def start(client: Client, settings: dict, *, relay_state: str = "https://sp.example.test/home"):
    """The SP sends the browser to Blazon (HTTP-Redirect); returns (auth, Blazon's answer)."""
    auth = samlsp.auth_for(settings, ACS)
    url = auth.login(return_to=relay_state)
    path, query = samlsp.split(url)
    return auth, client.get(path, query)


def finish(client: Client, response):
    """Follow Blazon's redirect to the resume URL; returns the page (the auto-post form or refusal)."""
    assert response.status_code == 302, response.content[:500]
    return client.get(response["Location"])


def sp_accepts(settings: dict, saml_response: str, request_id: str | None):
    """python3-saml processes the response at its ACS; returns the auth object (errors, attributes)."""
    auth = samlsp.auth_for(settings, ACS, post={"SAMLResponse": saml_response})
    auth.process_response(request_id=request_id)
    return auth

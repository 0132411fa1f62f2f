"""Set-up for the adapter tests: a resource provisioned AUTOMATICally, adapter clients with
real RSA keys, and API clients holding real OAuth2 client-credentials tokens from /o/token/."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone
from rest_framework.test import APIClient

from directory.models import ConsoleRole, ProvisioningEvent, ProvisioningMode, Resource
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.adapter import adapter_client_register
from requests_workflow.models import RequestStatus
from requests_workflow.services.requests import request_create
from tests.api.factories import AccountFactory, EntitlementFactory, ResourceFactory, UserFactory

ALL_AUTOMATIC = {e: ProvisioningMode.AUTOMATIC for e in ProvisioningEvent.values}


@functools.lru_cache(maxsize=4)
def keypair(n: int = 0) -> tuple[bytes, str]:
    """(private PEM, public PEM); generated once per test run."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def make_entry(resource: Resource, event: str = "CREATE_ACCOUNT", **kw: Any) -> ProvisioningEntry:
    kw.setdefault("mode", ProvisioningMode.AUTOMATIC)
    kw.setdefault("status", EntryStatus.PENDING)
    return ProvisioningEntry.objects.create(
        resource=resource, event_type=event, created_at=timezone.now(), **kw
    )


def token_for(client_id: str, secret: str) -> str:
    response = APIClient().post(
        "/o/token/",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "adapter"
    return body["access_token"]


def api_for(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


@pytest.fixture
def world(db) -> dict[str, Any]:
    owner = UserFactory(username="erp-owner")
    alice = UserFactory(username="alice", email="alice@example.com")
    erp = ResourceFactory(code="erp", name="ERP", provisioning_modes=ALL_AUTOMATIC)
    erp.owners.add(owner)
    crm = ResourceFactory(code="crm", name="CRM", provisioning_modes=ALL_AUTOMATIC)
    ent = EntitlementFactory(resource=erp, identifier="payments", name="Payments")
    account = AccountFactory(resource=erp, owner=alice, identifier="alice")
    erp_client, erp_id, erp_secret = adapter_client_register(
        actor=None, source="console", name="erp-adapter", resources=[erp], public_key=keypair(0)[1]
    )
    crm_client, crm_id, crm_secret = adapter_client_register(
        actor=None, source="console", name="crm-adapter", resources=[crm], public_key=keypair(1)[1]
    )
    return {
        "owner": owner,
        "alice": alice,
        "erp": erp,
        "crm": crm,
        "ent": ent,
        "account": account,
        "erp_client": erp_client,
        "crm_client": crm_client,
        "erp_creds": (erp_id, erp_secret),
        "crm_creds": (crm_id, crm_secret),
    }


@pytest.fixture
def erp_api(world) -> APIClient:
    return api_for(token_for(*world["erp_creds"]))


@pytest.fixture
def crm_api(world) -> APIClient:
    return api_for(token_for(*world["crm_creds"]))


@pytest.fixture
def grant(world, django_capture_on_commit_callbacks):
    """A GRANT_ENTITLEMENT request for a user without an ERP account: stage 4 creates the account
    and the membership, and writes CREATE_ACCOUNT then GRANT_ENTITLEMENT entries."""
    admin = UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    carol = UserFactory(username="carol")
    with django_capture_on_commit_callbacks(execute=True):
        req = request_create(
            actor=admin,
            source="api",
            request_type="GRANT_ENTITLEMENT",
            beneficiary=carol,
            entitlement=world["ent"],
            justification="month-end close",
        )
    req.refresh_from_db()
    assert req.status == RequestStatus.WAITING_PROVISIONING, req.failure_reason
    return req

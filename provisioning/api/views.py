"""Adapter API v1, under ``/api/v1/adapter/`` (docs/adapters.md).

Only resource adapters call it, with an OAuth2 client-credentials token (scope ``adapter``) of
a registered ``AdapterClient``; personal API tokens and console sessions are not accepted here.
Every call acts only on the entries of the client's resources (others are 404). The views
validate the input's shape and call ``provisioning.services.adapter``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from blazon.api.errors import ErrorSerializer
from provisioning import crypto
from provisioning.api import serializers as s
from provisioning.api.auth import AdapterAuthentication, IsAdapter
from provisioning.models import AdapterClient, ProvisioningEntry
from provisioning.services import adapter as svc
from provisioning.services.credentials import adapter_credential_store
from provisioning.services.reports import entries_report_many

ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer, description="Invalid input (fields name the problems); nothing changed."
    ),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or expired access token."),
    403: OpenApiResponse(ErrorSerializer, description="The token is not an active adapter client's."),
}
ENTRY_ERRORS = {
    **ERRORS,
    404: OpenApiResponse(ErrorSerializer, description="No such entry on your resources."),
    409: OpenApiResponse(
        ErrorSerializer,
        description="The entry is not leased to you (leased by another adapter, or already finished).",
    ),
}


class AdapterView(APIView):
    authentication_classes = [AdapterAuthentication]
    permission_classes = [IsAdapter]

    @property
    def client(self) -> AdapterClient:
        return self.request.user.client


def _delivered(entry: ProvisioningEntry, batch: svc.Batch) -> dict[str, Any]:
    account, entitlement = entry.account, entry.entitlement
    user = batch.users.get(entry.user_id_ref or 0) or (
        batch.users.get(account.owner_id or 0) if account is not None else None
    )
    sealed = batch.secrets.get(entry.pk)
    payload = {k: v for k, v in (entry.payload or {}).items() if k not in svc.SECRET_REF_KEYS}
    native = getattr(account, "native_identifier", None) if account is not None else None
    ent_native = getattr(entitlement, "native_identifier", None) if entitlement is not None else None
    return {
        "id": entry.pk,
        "event_type": entry.event_type,
        "resource": entry.resource.code,
        "status": entry.status,
        "attempt": entry.attempts,
        "lease_until": entry.lease_until,
        "created_at": entry.created_at,
        "account": None
        if account is None
        else {
            "id": account.pk,
            "identifier": account.identifier,
            "native_identifier": native.value if native else None,
            "account_type": account.account_type,
            "status": account.status,
            "attributes": account.attributes or {},
        },
        "entitlement": None
        if entitlement is None
        else {
            "id": entitlement.pk,
            "identifier": entitlement.identifier,
            "native_identifier": ent_native.value if ent_native else None,
            "name": entitlement.name,
            "attributes": entitlement.attributes or {},
        },
        "user": None
        if user is None
        else {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "display_name": user.display_name,
            "status": user.status,
        },
        "payload": payload,
        "secret": sealed if sealed and "error" not in sealed else None,
        "secret_error": sealed.get("error") if sealed else None,
    }


def _state(entry: ProvisioningEntry) -> dict[str, Any]:
    """``EntryStateSerializer``'s shape, built directly (hundreds per report call)."""
    return {
        "id": entry.pk,
        "event_type": entry.event_type,
        "status": entry.status,
        "lease_until": entry.lease_until,
        "attempts": entry.attempts,
        "transient_failures": entry.transient_failures,
        "not_before": entry.not_before,
        "last_error": entry.last_error,
        "result": entry.result or {},
        "manual_task": entry.manual_task_id,
    }


class MeView(AdapterView):
    @extend_schema(
        operation_id="adapter_me",
        summary="Who am I: the adapter client and the resources it serves",
        responses={200: s.AdapterMeSerializer, **ERRORS},
        tags=["adapter"],
    )
    def get(self, request: Request) -> Response:
        client = self.client
        return Response(
            {
                "name": client.name,
                "resources": sorted(client.resources.values_list("code", flat=True)),
                "key_id": crypto.key_id(client.public_key),
            }
        )


class PullView(AdapterView):
    @extend_schema(
        operation_id="adapter_pull",
        summary="Pull a batch of entries under a lease",
        description="The oldest entries of your resources that are ready (per-object order kept), "
        "now PULLED and leased to you until `lease_until`. An empty list means nothing to do.",
        request=s.PullInputSerializer,
        responses={200: s.PullOutputSerializer, **ERRORS},
        tags=["adapter"],
    )
    def post(self, request: Request) -> Response:
        data = s.PullInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = svc.entries_pull(
            client=self.client,
            limit=data.validated_data["limit"],
            lease_seconds=data.validated_data.get("lease_seconds"),
        )
        # already in the documented shape (PullOutputSerializer): a serializer pass per entry
        # cost more than the pull's SQL
        return Response(
            {"lease_until": batch.lease_until, "entries": [_delivered(e, batch) for e in batch.entries]}
        )


class LeaseView(AdapterView):
    @extend_schema(
        operation_id="adapter_entry_lease",
        summary="Acknowledge a pulled entry and extend its lease",
        request=s.LeaseInputSerializer,
        responses={200: s.EntryStateSerializer, **ENTRY_ERRORS},
        tags=["adapter"],
    )
    def post(self, request: Request, entry_id: int) -> Response:
        data = s.LeaseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = svc.entry_lease_extend(
            client=self.client, entry_id=entry_id, lease_seconds=data.validated_data.get("lease_seconds")
        )
        return Response(s.EntryStateSerializer(entry).data)


class SuccessView(AdapterView):
    @extend_schema(
        operation_id="adapter_entry_success",
        summary="Report that the application made the change",
        request=s.SuccessInputSerializer,
        responses={200: s.EntryStateSerializer, **ENTRY_ERRORS},
        tags=["adapter"],
    )
    def post(self, request: Request, entry_id: int) -> Response:
        data = s.SuccessInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = svc.entry_report_success(client=self.client, entry_id=entry_id, **data.validated_data)
        return Response(s.EntryStateSerializer(entry).data)


class FailureView(AdapterView):
    @extend_schema(
        operation_id="adapter_entry_failure",
        summary="Report that the change could not be made (transient or final)",
        request=s.FailureInputSerializer,
        responses={200: s.EntryStateSerializer, **ENTRY_ERRORS},
        tags=["adapter"],
    )
    def post(self, request: Request, entry_id: int) -> Response:
        data = s.FailureInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = svc.entry_report_failure(client=self.client, entry_id=entry_id, **data.validated_data)
        return Response(s.EntryStateSerializer(entry).data)


class CredentialView(AdapterView):
    @extend_schema(
        operation_id="adapter_entry_credential",
        summary="Store a credential the adapter created into the vault",
        description="An initial password the adapter set on the entry's account, or a new secret "
        "of an application account. Encrypted at rest by the vault; audited without the value. "
        "Idempotent: the same entry, account, kind and name again returns the first result.",
        request=s.CredentialInputSerializer,
        responses={200: s.CredentialOutputSerializer, **ENTRY_ERRORS},
        tags=["adapter"],
    )
    def post(self, request: Request, entry_id: int) -> Response:
        data = s.CredentialInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential, stored = adapter_credential_store(
            client=self.client, entry_id=entry_id, **data.validated_data
        )
        return Response(
            s.CredentialOutputSerializer(
                {
                    "secret_id": credential.secret_id,
                    "entry_id": credential.entry_id,
                    "account_id": credential.account_id,
                    "kind": credential.kind,
                    "name": credential.name,
                    "stored": stored,
                }
            ).data
        )


def _report_results(results: list[Any]) -> dict[str, Any]:
    """The batch-report answer (also the in-process runner's, provisioning.runner)."""
    return {
        "results": [
            {
                "entry": r.entry_id,
                "ok": r.error is None,
                "state": _state(r.entry) if r.entry is not None else None,
                "error": None if r.error is None else {"code": r.error.code, "message": r.error.message},
            }
            for r in results
        ]
    }


class ReportsView(AdapterView):
    @extend_schema(
        operation_id="adapter_reports",
        summary="Report the outcomes of many entries in one call",
        description="Each report means what its single-entry call (`success/`, `failure/`) means and "
        "is answered on its own: `ok` with the entry's state, or an `error` (`not_found`, "
        "`entry_not_leased`, `leased_by_other`: drop the entry). A malformed call is a 400 and "
        "changes nothing. Up to 500 reports per call.",
        request=s.ReportsInputSerializer,
        responses={200: s.ReportsOutputSerializer, **ERRORS},
        tags=["adapter"],
    )
    def post(self, request: Request) -> Response:
        data = s.ReportsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = entries_report_many(client=self.client, reports=data.validated_data["reports"])
        return Response(_report_results(results))

"""Provisioning entries for people, under ``/api/v1/provisioning-entries/``: list them (filter
by status, resource, event, mode), read one, resolve one that waits for manual provisioning
(WAITING_FAILOVER_RESOLVING), retry or cancel one — the provisioning queue of the console.

Reading needs any console role (``view``). ``entry_resolve_done`` / ``entry_resolve_failed``
decide who may resolve (the manual task's assignees — the resource owners — or an
administrator). Retry and cancel need ``manage_config``, as in the console: the permission
refuses everyone else before the services (which check it again) are called.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from blazon.api.errors import ErrorSerializer
from blazon.api.filters import FieldFilterBackend
from blazon.api.permissions import AdminRolePermission
from directory.api.views import ERRORS, NOT_FOUND
from directory.models import Source
from provisioning.api import serializers as s
from provisioning.models import ProvisioningEntry
from provisioning.services.console import entry_cancel, entry_retry
from provisioning.services.manual import entry_resolve_done, entry_resolve_failed

NOT_WAITING = {
    409: OpenApiResponse(ErrorSerializer, description="The entry is not waiting for manual resolution.")
}
NOT_RETRYABLE = {
    409: OpenApiResponse(
        ErrorSerializer,
        description="The entry cannot be retried: `entry_not_retryable` (pending, leased, succeeded, "
        "canceled) or `request_closed` (its request was rolled back). Nothing changed.",
    )
}
NOT_CANCELABLE = {
    409: OpenApiResponse(
        ErrorSerializer,
        description="The entry cannot be canceled: `entry_leased` (an adapter holds it and may be making "
        "the change) or `entry_not_cancelable` (succeeded, canceled, or waiting for manual resolution). "
        "Nothing changed.",
    )
}


class ProvisioningEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = ProvisioningEntry.objects.select_related("resource", "lease_owner").order_by("-pk")
    serializer_class = s.EntrySerializer
    permission_classes = [AdminRolePermission]
    write_capability = "view"  # resolve: any console role; the resolution services decide who may
    filter_backends = [FieldFilterBackend, OrderingFilter]
    filterset_fields = ("status", "resource", "event_type", "mode", "correlation_id")
    ordering_fields = ("id", "created_at", "updated_at", "attempts")

    @extend_schema(
        summary="List provisioning entries",
        description="Newest first. Filter by `status`, `resource` (id), `event_type`, `mode` or "
        "`correlation_id` (`request-42`); an unknown value is a 400, not an empty page.",
        responses={200: s.EntrySerializer(many=True), **ERRORS},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Get one provisioning entry", responses={200: s.EntrySerializer, **ERRORS, **NOT_FOUND}
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Resolve an entry waiting for manual provisioning",
        description="DONE: you made the change in the application by hand (give its identifier and "
        "values); FAILED: it cannot be made — the entry fails for good and its request is rolled back.",
        request=s.ResolveInputSerializer,
        responses={200: s.EntrySerializer, **ERRORS, **NOT_FOUND, **NOT_WAITING},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        entry = self.get_object()
        data = s.ResolveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["outcome"] == "DONE":
            entry = entry_resolve_done(
                actor=request.user,
                source=Source.API,
                entry=entry,
                native_identifier=v.get("native_identifier", ""),
                attributes=v.get("attributes"),
                comment=v.get("comment", ""),
            )
        else:
            entry = entry_resolve_failed(
                actor=request.user, source=Source.API, entry=entry, reason=v.get("reason", "")
            )
        entry = self.get_queryset().get(pk=entry.pk)
        return Response(s.EntrySerializer(entry).data)

    @extend_schema(
        summary="Retry a failed provisioning entry",
        description="A FAILED entry, or one waiting for manual resolution, goes back to PENDING for "
        "the adapter (lease, delay and transient failures cleared; its open manual task canceled). "
        "Administrators only.",
        request=None,
        responses={200: s.EntrySerializer, **ERRORS, **NOT_FOUND, **NOT_RETRYABLE},
    )
    @action(detail=True, methods=["post"], write_capability="manage_config")
    def retry(self, request, pk=None):
        entry = self.get_object()
        entry_retry(actor=request.user, source=Source.API, entry_id=entry.pk)
        return Response(s.EntrySerializer(self.get_queryset().get(pk=entry.pk)).data)

    @extend_schema(
        summary="Cancel a provisioning entry",
        description="The application must not get this change: a PENDING or FAILED entry (or a PULLED one "
        "whose lease expired) becomes CANCELED, its open manual task is canceled; the directory is not "
        "changed. Administrators only.",
        request=s.EntryCancelInputSerializer,
        responses={200: s.EntrySerializer, **ERRORS, **NOT_FOUND, **NOT_CANCELABLE},
    )
    @action(detail=True, methods=["post"], write_capability="manage_config")
    def cancel(self, request, pk=None):
        entry = self.get_object()
        data = s.EntryCancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry_cancel(
            actor=request.user, source=Source.API, entry_id=entry.pk, reason=data.validated_data["reason"]
        )
        return Response(s.EntrySerializer(self.get_queryset().get(pk=entry.pk)).data)

"""Provisioning entries for people, under ``/api/v1/provisioning-entries/``: read one, and
resolve one that waits for manual provisioning (WAITING_FAILOVER_RESOLVING).

Any console role may call; ``entry_resolve_done`` / ``entry_resolve_failed`` decide who may
resolve (the manual task's assignees — the resource owners — or an administrator).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from blazon.api.errors import ErrorSerializer
from blazon.api.permissions import AdminRolePermission
from directory.api.views import ERRORS, NOT_FOUND
from directory.models import Source
from provisioning.api import serializers as s
from provisioning.models import ProvisioningEntry
from provisioning.services.manual import entry_resolve_done, entry_resolve_failed

NOT_WAITING = {
    409: OpenApiResponse(ErrorSerializer, description="The entry is not waiting for manual resolution.")
}


class ProvisioningEntryViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = ProvisioningEntry.objects.select_related("resource", "lease_owner")
    serializer_class = s.EntrySerializer
    permission_classes = [AdminRolePermission]
    write_capability = "view"  # any console role; the resolution services decide who may
    filter_backends: list = []
    pagination_class = None

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

"""API v1 of reconciliation: profiles (read: any console role; write: administrators; every
change audited through ``reconciliation.services.profiles``) and runs (read: any console role;
start, confirm, cancel: administrators). A run started here executes in the background (after
commit; in-process in embedded mode): poll ``GET /reconciliation-runs/{id}/``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from directory.api.views import CONFLICT, ERRORS, NOT_FOUND, ConfigViewSet, _read_schema, _write_schema
from directory.models import Source
from reconciliation import selectors
from reconciliation.api import serializers as s
from reconciliation.services.profiles import profile_create, profile_delete, profile_update
from reconciliation.services.runs import run_cancel
from reconciliation.services.schedule import run_confirm_and_queue, run_start


@extend_schema_view(
    **_read_schema("reconciliation profiles", s.ReconciliationProfileSerializer),
    **_write_schema(
        "reconciliation profiles", s.ReconciliationProfileInputSerializer, s.ReconciliationProfileSerializer
    ),
)
class ReconciliationProfileViewSet(ConfigViewSet):
    """What a reconciliation reads (a source connector; secret settings kept in the vault), how
    rows find directory objects (rules), what each situation does (actions), how attributes
    map, when it runs and its safety limits."""

    selector = selectors.profiles_for
    serializer_class = s.ReconciliationProfileSerializer
    input_serializer_class = s.ReconciliationProfileInputSerializer
    create_service = profile_create
    update_service = profile_update
    delete_service = profile_delete
    object_kw = "profile"
    filterset_fields = ("kind", "source_type", "active")
    search_fields = ("code", "name", "description")
    ordering_fields = ("id", "code", "name", "kind", "created_at")


@extend_schema_view(**_read_schema("reconciliation runs", s.ReconciliationRunSerializer))
class ReconciliationRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs of the reconciliation profiles, newest first: status, progress, counts per situation
    and action, errors. A run the safety limit stopped (WAITING_CONFIRMATION) applies once an
    administrator confirms it."""

    serializer_class = s.ReconciliationRunSerializer
    filterset_fields = ("profile", "status", "dry_run")
    ordering_fields = ("id", "created_at", "finished_at")

    def get_queryset(self) -> Any:
        return selectors.runs_for(self.request.user)

    @extend_schema(
        summary="Start a run of a profile (a dry run changes nothing)",
        request=s.ReconciliationRunInputSerializer,
        responses={202: s.ReconciliationRunSerializer, **ERRORS, **CONFLICT},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.ReconciliationRunInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = run_start(actor=request.user, source=Source.API, **body.validated_data)
        return Response(
            s.ReconciliationRunSerializer(self.get_queryset().get(pk=run.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        summary="Confirm a run the safety limit stopped: it applies",
        request=None,
        responses={202: s.ReconciliationRunSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        run = run_confirm_and_queue(actor=request.user, source=Source.API, run=self.get_object())
        return Response(
            s.ReconciliationRunSerializer(self.get_queryset().get(pk=run.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        summary="Cancel a run that waits for confirmation: nothing is applied",
        request=None,
        responses={200: s.ReconciliationRunSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = run_cancel(actor=request.user, source=Source.API, run=self.get_object())
        return Response(s.ReconciliationRunSerializer(self.get_queryset().get(pk=run.pk)).data)

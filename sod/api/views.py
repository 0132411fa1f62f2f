"""API v1 of segregation of duties: rules (read: any console role; write: administrators),
exceptions (read; revoke: administrators) and violations (read; scan now: administrators).
Every change goes through ``sod.services``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from blazon.permissions import can
from directory.api.views import CONFLICT, ERRORS, NOT_FOUND, ConfigViewSet, _read_schema, _write_schema
from directory.models import Source
from sod import selectors
from sod.api import serializers as s
from sod.services.assignment import (
    assignment_policy_create,
    assignment_policy_delete,
    assignment_policy_update,
    policy_draft,
    policy_preview,
)
from sod.services.exceptions import sod_exception_revoke
from sod.services.rules import sod_rule_create, sod_rule_delete, sod_rule_update
from sod.services.scan import sod_scan


@extend_schema_view(
    **_read_schema("SoD rules", s.SoDRuleSerializer),
    **_write_schema("SoD rules", s.SoDRuleInputSerializer, s.SoDRuleSerializer),
)
class SoDRuleViewSet(ConfigViewSet):
    """Conflict rules: holding any item of one side with any item of another is a violation.
    `sides` are item references (`entitlement:<resource>/<identifier>`, `role:<code>`,
    `resource:<code>`); overlapping sides are refused."""

    selector = selectors.rules_for
    serializer_class = s.SoDRuleSerializer
    input_serializer_class = s.SoDRuleInputSerializer
    create_service = sod_rule_create
    update_service = sod_rule_update
    delete_service = sod_rule_delete
    object_kw = "rule"
    filterset_fields = ("severity", "active", "owner")
    search_fields = ("code", "name", "description")
    ordering_fields = ("id", "code", "name", "severity", "created_at")


@extend_schema_view(**_read_schema("SoD exceptions", s.SoDExceptionSerializer))
class SoDExceptionViewSet(viewsets.ReadOnlyModelViewSet):
    """Exceptions owners granted on SoD tasks, with their expiry; revoke one to end it now."""

    serializer_class = s.SoDExceptionSerializer
    filterset_fields = ("rule", "user")
    ordering_fields = ("id", "expires_at", "created_at")

    def get_queryset(self) -> Any:
        return selectors.exceptions_for(self.request.user)

    @extend_schema(
        summary="Revoke an SoD exception now (the next scan reports the violation again)",
        request=s.SoDExceptionRevokeSerializer,
        responses={200: s.SoDExceptionSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        exc = self.get_object()
        body = s.SoDExceptionRevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sod_exception_revoke(
            actor=request.user, source=Source.API, exception=exc, reason=body.validated_data["reason"]
        )
        return Response(s.SoDExceptionSerializer(self.get_queryset().get(pk=exc.pk)).data)


@extend_schema_view(**_read_schema("SoD violations", s.SoDViolationSerializer))
class SoDViolationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Violations the detective scan found: OPEN (a task waits for the rule's owner), ACCEPTED
    (a valid exception covers it) or RESOLVED (no longer held)."""

    serializer_class = s.SoDViolationSerializer
    filterset_fields = ("rule", "user", "status")
    ordering_fields = ("id", "first_seen_at", "last_seen_at")

    def get_queryset(self) -> Any:
        return selectors.violations_for(self.request.user)

    @extend_schema(
        summary="Run the detective SoD scan now",
        request=None,
        responses={200: s.SoDScanSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def scan(self, request: Request) -> Response:
        result = sod_scan(actor=request.user, source=Source.API)
        return Response(s.SoDScanSerializer(result.as_dict()).data)


@extend_schema_view(
    **_read_schema("assignment policies", s.AssignmentPolicySerializer),
    **_write_schema("assignment policies", s.AssignmentPolicyInputSerializer, s.AssignmentPolicySerializer),
)
class AssignmentPolicyViewSet(ConfigViewSet):
    """Birthright rules: active users matching every condition set (organization, with or without
    its sub-organizations, department, job title, employee type, administrator-defined attributes)
    hold the role, managed by the policy. Saving or deleting one re-evaluates its role at once;
    preview first with `preview/`."""

    selector = selectors.assignment_policies_for
    serializer_class = s.AssignmentPolicySerializer
    input_serializer_class = s.AssignmentPolicyInputSerializer
    create_service = assignment_policy_create
    update_service = assignment_policy_update
    delete_service = assignment_policy_delete
    object_kw = "policy"
    filterset_fields = ("role", "active", "organization")
    search_fields = ("code", "name", "description", "department", "job_title")
    ordering_fields = ("id", "code", "name", "created_at")

    @extend_schema(
        operation_id="v1_assignment_policies_preview_new",
        summary="Preview a new policy: how many users would gain or lose its role",
        request=s.AssignmentPolicyInputSerializer,
        responses={200: s.AssignmentPolicyPreviewSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="preview", filter_backends=[], pagination_class=None)
    def preview_new(self, request: Request) -> Response:
        self._require_write(request)
        data = self._input(request, partial=False)
        return Response(policy_preview(policy_draft(data)).as_dict())

    @extend_schema(
        summary="Preview a change to a policy (body: the fields to change; empty: re-evaluate as saved)",
        request=s.AssignmentPolicyInputSerializer(partial=True),
        responses={200: s.AssignmentPolicyPreviewSerializer, **ERRORS, **NOT_FOUND},
    )
    @action(detail=True, methods=["post"], url_path="preview", filter_backends=[], pagination_class=None)
    def preview(self, request: Request, pk: str | None = None) -> Response:
        self._require_write(request)
        policy = self.get_object()
        data = self._input(request, partial=True)
        return Response(policy_preview(policy_draft(data, policy)).as_dict())

    def _require_write(self, request: Request) -> None:
        if not can(request.user, "manage_config"):
            raise PermissionDenied("Previewing a policy needs the administrator role.")

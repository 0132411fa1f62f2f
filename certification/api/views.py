"""API v1 of certification: policies (read: any console role; write: administrators), campaigns
(read: any console role; start, cancel, finish: administrators; report: any console role) and
items (console roles read every item; anyone else only the items they review; deciding is the
reviewer's, checked by the service). Every change goes through ``certification.services``."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from blazon.api.errors import ErrorSerializer
from certification import selectors
from certification.api import serializers as s
from certification.models import CertificationItem
from certification.report import REPORT_COLUMNS, report_items, report_rows
from certification.services.campaigns import campaign_cancel, campaign_finish, campaign_start
from certification.services.decisions import items_decide, outcomes_refresh
from certification.services.micro import micro_certification_start
from certification.services.policies import (
    certification_policy_create,
    certification_policy_delete,
    certification_policy_update,
)
from directory.api.views import CONFLICT, ERRORS, NOT_FOUND, ConfigViewSet, _read_schema, _write_schema
from directory.models import Source, User

DENIED = {403: OpenApiResponse(ErrorSerializer, description="You do not review this item.")}


@extend_schema_view(
    **_read_schema("certification policies", s.CertificationPolicySerializer),
    **_write_schema(
        "certification policies", s.CertificationPolicyInputSerializer, s.CertificationPolicySerializer
    ),
)
class CertificationPolicyViewSet(ConfigViewSet):
    """Periodic certification policies: what is certified (accounts, entitlement memberships,
    role memberships, narrowed by criticality, resource, entitlement, role, organization), who
    reviews, every how many days, for how long, and what happens to undecided items."""

    selector = selectors.policies_for
    serializer_class = s.CertificationPolicySerializer
    input_serializer_class = s.CertificationPolicyInputSerializer
    create_service = certification_policy_create
    update_service = certification_policy_update
    delete_service = certification_policy_delete
    object_kw = "policy"
    filterset_fields = ("active", "reviewer_kind")
    search_fields = ("code", "name", "description")
    ordering_fields = ("id", "code", "name", "next_run_at")


@extend_schema_view(**_read_schema("certification campaigns", s.CertificationCampaignSerializer))
class CertificationCampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Certification campaigns: start one from a policy or a selection, follow it, cancel it,
    finish it early, and read its evidence report."""

    serializer_class = s.CertificationCampaignSerializer
    filterset_fields = ("status", "policy")
    ordering_fields = ("id", "started_at", "ends_at")

    def get_queryset(self) -> Any:
        return selectors.campaigns_for(self.request.user).order_by("-id")

    def _out(self, pk: int, code: int = 200) -> Response:
        return Response(s.CertificationCampaignSerializer(self.get_queryset().get(pk=pk)).data, status=code)

    @extend_schema(
        summary="Start a campaign (from a policy, or from a selection with a name and an end)",
        request=s.CampaignStartSerializer,
        responses={201: s.CertificationCampaignSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def start(self, request: Request) -> Response:
        body = s.CampaignStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        scope = dict(data["scope"]) if data.get("scope") is not None else None
        campaign = campaign_start(
            actor=request.user,
            source=Source.API,
            name=data.get("name", ""),
            policy=data.get("policy"),
            scope=scope,
            ends_at=data.get("ends_at"),
            undecided_action=data.get("undecided_action"),
        )
        return self._out(campaign.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Micro-certification: put one access to review until a date",
        request=s.MicroCertificationSerializer,
        responses={201: s.CertificationCampaignSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def micro(self, request: Request) -> Response:
        body = s.MicroCertificationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        campaign = micro_certification_start(
            actor=request.user,
            source=Source.API,
            kind=data["kind"],
            access_id=data["access"],
            reviewer=data.get("reviewer"),
            ends_at=data["ends_at"],
            undecided_action=data["undecided_action"],
        )
        return self._out(campaign.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a running campaign (undecided items are dropped; decisions made stand)",
        request=s.CampaignCancelSerializer,
        responses={200: s.CertificationCampaignSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        body = s.CampaignCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        campaign_cancel(
            actor=request.user, source=Source.API, campaign=campaign, reason=body.validated_data["reason"]
        )
        return self._out(campaign.pk)

    @extend_schema(
        summary="Finish a running campaign now (undecided items kept or revoked as it says)",
        request=None,
        responses={200: s.CampaignFinishResultSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def finish(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        result = campaign_finish(actor=request.user, source=Source.API, campaign=campaign)
        return Response(s.CampaignFinishResultSerializer(result).data)

    @extend_schema(
        summary="The campaign's evidence report: every item, decision, reviewer, time, comment, outcome",
        request=None,
        responses={200: s.ReportRowSerializer(many=True), **ERRORS, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def report(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        items = CertificationItem.objects.filter(campaign=campaign)
        outcomes_refresh(items)
        names = [name for name, _ in REPORT_COLUMNS]
        rows = [dict(zip(names, row, strict=True)) for row in report_rows(report_items(items))]
        return Response(s.ReportRowSerializer(rows, many=True).data)

    # writes are administrators' (the default permission: manage_config); reads any console role


@extend_schema_view(**_read_schema("certification items", s.CertificationItemSerializer))
class CertificationItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Items under review. Console roles read every item; anyone else the items they review.
    Decide one (`decide`) or many (`decide-many`): KEEP records the decision; REVOKE creates the
    matching REVOKE_* request (source certification) and the item follows its outcome."""

    permission_classes = [IsAuthenticated]  # who may decide which item: the service
    serializer_class = s.CertificationItemSerializer
    filterset_fields = ("campaign", "decision", "kind", "outcome", "reviewer")
    ordering_fields = ("id", "decided_at")

    def get_queryset(self) -> Any:
        return selectors.items_for(self.request.user).order_by("id")

    @extend_schema(
        summary="Keep or revoke one item",
        request=s.ItemDecideSerializer,
        responses={200: s.ItemsDecidedSerializer, **ERRORS, **DENIED, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def decide(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        body = s.ItemDecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = items_decide(
            actor=cast(User, request.user), source=Source.API, items=[item.pk], **body.validated_data
        )
        return Response(s.ItemsDecidedSerializer(result).data)

    @extend_schema(
        summary="Keep or revoke many items at once (all or nothing)",
        request=s.ItemsDecideSerializer,
        responses={200: s.ItemsDecidedSerializer, **ERRORS, **DENIED, **CONFLICT},
    )
    @action(detail=False, methods=["post"], url_path="decide-many", filter_backends=[], pagination_class=None)
    def decide_many(self, request: Request) -> Response:
        body = s.ItemsDecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = items_decide(actor=cast(User, request.user), source=Source.API, **body.validated_data)
        return Response(s.ItemsDecidedSerializer(result).data)

"""API v1 viewsets of the directory.

Lists come from ``directory.selectors`` (permission-aware, no N+1); every change goes through
a service of ``directory.services`` (``config`` for configuration objects, ``access`` for role
items). Reads need the ``view`` capability, writes ``manage_config`` (see
``blazon.api.permissions``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db import models
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from blazon.api.errors import ErrorSerializer
from directory import selectors
from directory.api import serializers as s
from directory.api.filters import UserAttributeFilter
from directory.models import Entitlement, Resource, RoleChange, Source
from directory.services import access, config, lifecycle

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (fields name the problems)."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, expired or revoked token."),
    403: OpenApiResponse(ErrorSerializer, description="Your administrative role does not allow this."),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such object.")}
CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="The change conflicts with existing data.")}


def _read_schema(name: str, output: type[BaseSerializer]) -> dict[str, Any]:
    return {
        "list": extend_schema(summary=f"List {name}", responses={200: output(many=True), **ERRORS}),
        "retrieve": extend_schema(
            summary=f"Get one of the {name}", responses={200: output, **ERRORS, **NOT_FOUND}
        ),
    }


def _write_schema(name: str, inp: type[BaseSerializer], output: type[BaseSerializer]) -> dict[str, Any]:
    return {
        "create": extend_schema(
            summary=f"Create one of the {name}", request=inp, responses={201: output, **ERRORS, **CONFLICT}
        ),
        "update": extend_schema(
            summary=f"Update one of the {name} (fields left out are unchanged)",
            request=inp,
            responses={200: output, **ERRORS, **NOT_FOUND, **CONFLICT},
        ),
        "partial_update": extend_schema(
            summary=f"Update some fields of one of the {name}",
            request=inp,
            responses={200: output, **ERRORS, **NOT_FOUND, **CONFLICT},
        ),
        "destroy": extend_schema(
            summary=f"Delete one of the {name}", responses={204: None, **ERRORS, **NOT_FOUND, **CONFLICT}
        ),
    }


class DirectoryReadViewSet(viewsets.ReadOnlyModelViewSet):
    """A read-only list/detail endpoint over a selector."""

    selector: ClassVar[Callable[[Any], models.QuerySet]]

    def get_queryset(self) -> models.QuerySet:
        return type(self).selector(self.request.user)


class ConfigViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    DirectoryReadViewSet,
):
    """Read endpoints plus create/update/delete through the configuration services."""

    input_serializer_class: ClassVar[type[BaseSerializer]]
    object_kw: ClassVar[str]
    create_service: ClassVar[Callable[..., models.Model]]
    update_service: ClassVar[Callable[..., models.Model]]
    delete_service: ClassVar[Callable[..., None]]

    def _input(self, request: Request, *, partial: bool) -> dict[str, Any]:
        serializer = self.input_serializer_class(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _output(self, obj: models.Model, http_status: int) -> Response:
        fresh = self.get_queryset().get(pk=obj.pk)  # re-read for the annotations and prefetches
        return Response(self.get_serializer(fresh).data, status=http_status)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self._input(request, partial=False)
        obj = type(self).create_service(actor=request.user, source=Source.API, **data)
        return self._output(obj, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        data = self._input(request, partial=partial)
        obj = type(self).update_service(
            actor=request.user, source=Source.API, data=data, **{self.object_kw: instance}
        )
        return self._output(obj, status.HTTP_200_OK)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        type(self).delete_service(actor=request.user, source=Source.API, **{self.object_kw: instance})
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------------------
# read-only directory objects


@extend_schema_view(**_read_schema("users", s.UserSerializer))
class UserViewSet(DirectoryReadViewSet):
    """Identities: standard attributes, administrator-defined `attributes`, life-cycle status
    and login lock. Read-only here; users change through the console or the request pipeline."""

    selector = selectors.users_for
    serializer_class = s.UserSerializer
    filter_backends: ClassVar[list] = [*DirectoryReadViewSet.filter_backends, UserAttributeFilter]
    filterset_fields = (
        "username",
        "email",
        "status",
        "login_locked",
        "organization",
        "manager",
        "department",
        "employee_type",
        "console_role",
    )
    search_fields = ("username", "first_name", "last_name", "display_name", "email")
    ordering_fields = (
        "id",
        "username",
        "last_name",
        "first_name",
        "status",
        "date_joined",
        "status_changed_at",
    )


@extend_schema_view(**_read_schema("accounts", s.AccountSerializer))
class AccountViewSet(DirectoryReadViewSet):
    """Accounts on resources (an orphan has no owner). `why` tells whether a manual decision
    and/or which roles keep each account."""

    selector = selectors.accounts_for
    serializer_class = s.AccountSerializer
    filterset_fields = ("resource", "owner", "account_type", "status", "management", "manual", "is_temporary")
    search_fields = ("identifier", "owner__username", "resource__code")
    ordering_fields = ("id", "identifier", "status", "account_type", "created_at", "expires_at")


@extend_schema_view(**_read_schema("entitlement memberships", s.EntitlementMembershipSerializer))
class EntitlementMembershipViewSet(DirectoryReadViewSet):
    """Accounts holding entitlements, with `why` each membership exists (manual and/or roles)."""

    selector = selectors.entitlement_memberships_for
    serializer_class = s.EntitlementMembershipSerializer
    filterset_fields = (
        "account",
        "entitlement",
        "management",
        "manual",
        "account__owner",
        "entitlement__resource",
    )
    search_fields = (
        "account__identifier",
        "account__owner__username",
        "entitlement__identifier",
        "entitlement__name",
    )
    ordering_fields = ("id", "created_at")


@extend_schema_view(**_read_schema("role memberships", s.RoleMembershipSerializer))
class RoleMembershipViewSet(DirectoryReadViewSet):
    """Users holding roles (MANUAL or through an ASSIGNMENT_POLICY)."""

    selector = selectors.role_memberships_for
    serializer_class = s.RoleMembershipSerializer
    filterset_fields = ("user", "role", "management")
    search_fields = ("user__username", "role__code", "role__name")
    ordering_fields = ("id", "created_at", "start_date", "end_date")


@extend_schema_view(**_read_schema("role changes", s.RoleChangeSerializer))
class RoleChangeViewSet(DirectoryReadViewSet):
    """Role change entries: an item added to or removed from a role and its fan-out to the
    members (PENDING, RUNNING, DONE or FAILED, with the result counts)."""

    selector = selectors.role_changes_for
    serializer_class = s.RoleChangeSerializer
    filterset_fields = ("role", "action", "status", "resource", "entitlement")
    search_fields = ("role__code", "role__name")
    ordering_fields = ("id", "created_at", "finished_at")


@extend_schema_view(**_read_schema("follow-up events", s.DirectoryEventSerializer))
class DirectoryEventViewSet(DirectoryReadViewSet):
    """Follow-up events the life cycle opens when a user is inactivated, revoked or removed:
    `OWNER_CHANGE` (choose a new owner of a resource, entitlement, role, organization or
    non-nominal account, or keep it: continuity), `ACCOUNT_ADMIN_CHANGE` (a new administrator of
    an application account, or continuity), `SHARED_MEMBER_REVIEW` (an inactivated member of a
    shared account: remove or keep), `SHARED_MEMBER_REMOVED` (rotate the shared password) and
    `CHECKOUT_RELEASED`. Filter with `status=OPEN` for the work waiting."""

    selector = selectors.directory_events_for
    serializer_class = s.DirectoryEventSerializer
    filterset_fields = ("status", "kind", "user", "object_type", "object_id")
    search_fields = ("user_repr", "object_repr")
    ordering_fields = ("id", "created_at", "closed_at")
    # resolving: the service asks for manage_config (configuration objects' owners) or
    # manage_users (accounts, shared members)
    write_capability = "manage_users"

    @extend_schema(
        summary="Resolve a follow-up event",
        description="`decision`: `REASSIGN` (with `new_user`, an ACTIVE user other than the one who "
        "left) or `CONTINUITY` for owner and administrator changes; `REMOVE` or `CONTINUITY` for a "
        "shared-account member review; `DONE` for a rotation alert or a released check-out. The "
        "event's `decisions` field lists what it takes. Changing the owner of a resource, "
        "entitlement, role or organization needs the administrator role.",
        request=s.DirectoryEventResolveSerializer,
        responses={200: s.DirectoryEventSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], url_path="resolve")
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        event = self.get_object()
        serializer = s.DirectoryEventResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        resolved = lifecycle.directory_event_resolve(
            actor=request.user,
            source=Source.API,
            event=event,
            decision=data["decision"],
            new_user=data.get("new_user"),
            note=data.get("note", ""),
        )
        fresh = self.get_queryset().get(pk=resolved.pk)
        return Response(self.get_serializer(fresh).data)


# ---------------------------------------------------------------------------------------------
# configuration objects


@extend_schema_view(
    **_read_schema("organizations", s.OrganizationSerializer),
    **_write_schema("organizations", s.OrganizationInputSerializer, s.OrganizationSerializer),
)
class OrganizationViewSet(ConfigViewSet):
    """Business units users belong to (a tree through `parent`)."""

    selector = selectors.organizations_for
    serializer_class = s.OrganizationSerializer
    input_serializer_class = s.OrganizationInputSerializer
    create_service = config.organization_create
    update_service = config.organization_update
    delete_service = config.organization_delete
    object_kw = "organization"
    filterset_fields = ("parent", "owner")
    search_fields = ("code", "name")
    ordering_fields = ("id", "code", "name", "created_at", "member_count")


@extend_schema_view(
    **_read_schema("resources", s.ResourceSerializer),
    **_write_schema("resources", s.ResourceInputSerializer, s.ResourceSerializer),
)
class ResourceViewSet(ConfigViewSet):
    """Applications whose access Blazon governs, with owners, criticality and the provisioning
    mode (AUTOMATIC, MANUAL, DISABLED) of each of the eleven provisioning events."""

    selector = selectors.resources_for
    serializer_class = s.ResourceSerializer
    input_serializer_class = s.ResourceInputSerializer
    create_service = config.resource_create
    update_service = config.resource_update
    delete_service = config.resource_delete
    object_kw = "resource"
    filterset_fields = ("criticality", "self_service", "certifiable", "owners")
    search_fields = ("code", "name", "description")
    ordering_fields = ("id", "code", "name", "criticality", "created_at", "account_count")

    def get_queryset(self) -> models.QuerySet:
        # Filtering on the owners M2M may join several rows per resource.
        qs = super().get_queryset()
        return qs.distinct() if "owners" in self.request.query_params else qs


@extend_schema_view(
    **_read_schema("entitlements", s.EntitlementSerializer),
    **_write_schema("entitlements", s.EntitlementInputSerializer, s.EntitlementSerializer),
)
class EntitlementViewSet(ConfigViewSet):
    """Permissions inside a resource (groups, profiles); `member_count` accounts hold each."""

    selector = selectors.entitlements_for
    serializer_class = s.EntitlementSerializer
    input_serializer_class = s.EntitlementInputSerializer
    create_service = config.entitlement_create
    update_service = config.entitlement_update
    delete_service = config.entitlement_delete
    object_kw = "entitlement"
    filterset_fields = ("resource", "owner", "criticality", "self_service", "certifiable")
    search_fields = ("identifier", "name", "description", "resource__code")
    ordering_fields = ("id", "identifier", "name", "criticality", "created_at", "member_count")


@extend_schema_view(
    **_read_schema("roles", s.RoleSerializer),
    **_write_schema("roles", s.RoleInputSerializer, s.RoleSerializer),
)
class RoleViewSet(ConfigViewSet):
    """Roles: bundles of resources and entitlements granted to every member. Add or remove
    items with `/items/`; each change is previewed and fanned out to the members."""

    selector = selectors.roles_for
    serializer_class = s.RoleSerializer
    input_serializer_class = s.RoleInputSerializer
    create_service = config.role_create
    update_service = config.role_update
    delete_service = config.role_delete
    object_kw = "role"
    filterset_fields = ("owner", "criticality", "self_service", "certifiable")
    search_fields = ("code", "name", "description")
    ordering_fields = ("id", "code", "name", "criticality", "created_at", "member_count")

    def _submit(
        self,
        request: Request,
        role: Any,
        *,
        action: str,
        resource: Any,
        entitlement: Any,
        keep_as_manual: bool,
    ) -> Response:
        # The preview is what the administrator is told before the fan-out runs: how many members
        # the change reaches and what it will create, adopt or revoke.
        preview = access.role_change_preview(
            role=role, action=action, resource=resource, entitlement=entitlement
        )
        if action == RoleChange.Action.REMOVE and keep_as_manual:
            # role_change_preview counts a plain removal; with keep_as_manual nothing is revoked,
            # what would have been becomes manually managed access.
            preview["kept_as_manual"] = preview.get("to_revoke", 0)
            preview["to_revoke"] = 0
        change = access.role_change_submit(
            actor=request.user,
            source=Source.API,
            role=role,
            action=action,
            resource=resource,
            entitlement=entitlement,
            keep_as_manual=keep_as_manual,
        )
        change = selectors.role_changes_for(request.user).get(pk=change.pk)
        body = {"change": s.RoleChangeSerializer(change).data, "preview": _preview_body(preview)}
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Add a resource or an entitlement to a role (fanned out to every member)",
        description="Answers 202 with the role change (applied in the background; follow it at "
        "`/api/v1/role-changes/{id}/`) and the preview counted before it ran. `action: REMOVE` is "
        "accepted too, for clients that cannot send DELETE.",
        request=s.RoleItemInputSerializer,
        responses={202: s.RoleItemResultSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], url_path="items")
    def items(self, request: Request, pk: str | None = None) -> Response:
        role = self.get_object()
        serializer = s.RoleItemInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return self._submit(
            request,
            role,
            action=data.get("action", "ADD"),
            resource=data.get("resource"),
            entitlement=data.get("entitlement"),
            keep_as_manual=data.get("keep_as_manual", False),
        )

    @extend_schema(
        summary="Remove a resource or an entitlement from a role (fanned out to every member)",
        description="Members lose what no other role and no manual decision keeps; with "
        "`keep_as_manual=true` they keep it as manually managed access instead. Removing a resource "
        "also removes the role's entitlements of that resource.",
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=["resource", "entitlement"]),
            OpenApiParameter(
                "item_id", int, OpenApiParameter.PATH, description="The resource or entitlement id."
            ),
            OpenApiParameter("keep_as_manual", bool, description="Keep the members' access as manual."),
        ],
        request=None,
        responses={202: s.RoleItemResultSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"items/(?P<kind>resource|entitlement)/(?P<item_id>[0-9]+)",
        filter_backends=[],
        pagination_class=None,
    )
    def item_remove(
        self, request: Request, pk: str | None = None, kind: str = "", item_id: str = ""
    ) -> Response:
        role = self.get_object()
        query = s.KeepAsManualQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        model = Resource if kind == "resource" else Entitlement
        item = model.objects.filter(pk=int(item_id)).first()
        if item is None:
            raise NotFound(gettext("No %(kind)s with id %(id)s.") % {"kind": kind, "id": item_id})
        return self._submit(
            request,
            role,
            action=RoleChange.Action.REMOVE,
            resource=item if kind == "resource" else None,
            entitlement=item if kind == "entitlement" else None,
            keep_as_manual=query.validated_data.get("keep_as_manual", False),
        )

    @extend_schema(
        summary="Preview what adding or removing a role item would do, without changing anything",
        parameters=[
            OpenApiParameter("action", str, required=True, enum=["ADD", "REMOVE"]),
            OpenApiParameter("resource", int, description="The resource (give this or entitlement)."),
            OpenApiParameter("entitlement", int, description="The entitlement (give this or resource)."),
        ],
        responses={200: s.RoleChangePreviewSerializer, **ERRORS, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"], url_path="items/preview", filter_backends=[], pagination_class=None)
    def items_preview(self, request: Request, pk: str | None = None) -> Response:
        role = self.get_object()
        serializer = s.RoleItemPreviewQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        counts = access.role_change_preview(
            role=role,
            action=data["action"],
            resource=data.get("resource"),
            entitlement=data.get("entitlement"),
        )
        return Response(_preview_body(counts))


def _preview_body(counts: dict[str, int]) -> dict[str, Any]:
    return {"members": counts.get("members", 0), "counts": counts}


@extend_schema_view(
    **_read_schema("attribute definitions", s.AttributeDefinitionSerializer),
    **{
        **_write_schema(
            "attribute definitions", s.AttributeDefinitionInputSerializer, s.AttributeDefinitionSerializer
        ),
        "destroy": extend_schema(
            summary="Delete one of the attribute definitions",
            description="Refused with 409 (and the count) while users — or the resource's accounts or "
            "entitlements — hold a value of the attribute. With `purge=true` their values are removed "
            "too, each removal recorded in the audit log on its holder.",
            parameters=[
                OpenApiParameter(
                    "purge",
                    bool,
                    description="Also remove the values held by users, accounts or entitlements.",
                )
            ],
            responses={
                204: None,
                **ERRORS,
                **NOT_FOUND,
                409: OpenApiResponse(
                    ErrorSerializer,
                    description="Values of the attribute are still held (`purge=true` removes them).",
                ),
            },
        ),
    },
)
class AttributeDefinitionViewSet(ConfigViewSet):
    """Administrator-defined attributes of users (scope USER) or of one resource's accounts or
    entitlements: type, required, unique and a validation regex."""

    selector = selectors.attribute_definitions_for
    serializer_class = s.AttributeDefinitionSerializer
    input_serializer_class = s.AttributeDefinitionInputSerializer
    create_service = config.attribute_definition_create
    update_service = config.attribute_definition_update
    delete_service = config.attribute_definition_delete
    object_kw = "definition"
    filterset_fields = ("scope", "resource", "type", "required", "unique")
    search_fields = ("name", "label")
    ordering_fields = ("id", "scope", "name", "position")

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        query = s.PurgeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        config.attribute_definition_delete(
            actor=request.user, source=Source.API, definition=instance, purge=query.validated_data["purge"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class UsernamePolicyView(GenericAPIView):
    """The username policy (a singleton): how usernames are produced for new users."""

    serializer_class = s.UsernamePolicySerializer
    filter_backends: ClassVar[list] = []
    pagination_class = None

    def get_object(self) -> Any:
        # The singleton; also what OPTIONS (DRF's metadata) describes for PUT and PATCH.
        return selectors.username_policy_active()

    @extend_schema(summary="Get the username policy", responses={200: s.UsernamePolicySerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        return Response(s.UsernamePolicySerializer(self.get_object()).data)

    def _update(self, request: Request, *, partial: bool) -> Response:
        serializer = s.UsernamePolicyInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        policy = config.username_policy_update(
            actor=request.user, source=Source.API, data=serializer.validated_data
        )
        return Response(s.UsernamePolicySerializer(policy).data)

    @extend_schema(
        summary="Replace the username policy (fields other than patterns keep their value when left out)",
        request=s.UsernamePolicyInputSerializer,
        responses={200: s.UsernamePolicySerializer, **ERRORS},
    )
    def put(self, request: Request) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some fields of the username policy",
        request=s.UsernamePolicyInputSerializer,
        responses={200: s.UsernamePolicySerializer, **ERRORS},
    )
    def patch(self, request: Request) -> Response:
        return self._update(request, partial=True)

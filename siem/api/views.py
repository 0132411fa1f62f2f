"""API v1 of SIEM forwarding: destinations (read: any console role; change and test:
administrators). Every change goes through ``siem.services``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from directory.api.views import ERRORS, NOT_FOUND, ConfigViewSet, _read_schema, _write_schema
from directory.models import Source
from siem import selectors
from siem.api import serializers as s
from siem.services import (
    siem_destination_create,
    siem_destination_delete,
    siem_destination_test,
    siem_destination_update,
)


@extend_schema_view(
    **_read_schema("SIEM destinations", s.SiemDestinationSerializer),
    **_write_schema("SIEM destinations", s.SiemDestinationInputSerializer, s.SiemDestinationSerializer),
)
class SiemDestinationViewSet(ConfigViewSet):
    """Where the audit log is forwarded: syslog (RFC 5424 or CEF) over UDP, TCP or TLS, or JSON
    to an HTTPS webhook; in order, at least once, from each destination's cursor. Secrets
    (`header_value`, `client_key`) are write-only and kept in the vault."""

    selector = selectors.destinations_for
    serializer_class = s.SiemDestinationSerializer
    input_serializer_class = s.SiemDestinationInputSerializer
    create_service = siem_destination_create
    update_service = siem_destination_update
    delete_service = siem_destination_delete
    object_kw = "destination"
    filterset_fields = ("transport", "enabled")
    search_fields = ("name", "host", "url")
    ordering_fields = ("id", "name", "cursor", "last_success_at")

    @extend_schema(
        summary="Send one test message to the destination now",
        request=None,
        responses={200: s.SiemTestSerializer, **ERRORS, **NOT_FOUND},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def test(self, request: Request, pk: str | None = None) -> Response:
        dest = self.get_object()
        accepted, error = siem_destination_test(actor=request.user, source=Source.API, destination=dest)
        return Response(s.SiemTestSerializer({"accepted": accepted, "error": error}).data)

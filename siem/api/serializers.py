"""API v1 serializers of SIEM destinations: the secrets are write-only (``header_value``,
``client_key``); the output says which are set (``secrets_set``), never their values."""

from __future__ import annotations

from rest_framework import serializers

from siem.models import Format, SiemDestination, Transport


class SiemDestinationSerializer(serializers.ModelSerializer):
    """A destination with its forwarding state: ``cursor`` (last audit seq accepted),
    ``backlog`` (events written after it), the last success and the last error."""

    backlog = serializers.IntegerField(read_only=True)
    secrets_set = serializers.ListField(
        child=serializers.CharField(),
        source="secret_keys",
        read_only=True,
        help_text="Secrets held in the vault.",
    )

    class Meta:
        model = SiemDestination
        fields = (
            "id",
            "name",
            "transport",
            "format",
            "host",
            "port",
            "url",
            "ca_cert",
            "client_cert",
            "secret_header",
            "secrets_set",
            "enabled",
            "action_prefix",
            "cursor",
            "backlog",
            "last_success_at",
            "last_error",
            "last_error_at",
            "failures",
            "next_attempt_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class SiemDestinationInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    transport = serializers.ChoiceField(choices=Transport.choices)
    format = serializers.ChoiceField(
        choices=Format.choices, required=False, default=Format.RFC5424, help_text="Syslog transports only."
    )
    host = serializers.CharField(required=False, allow_blank=True, default="", max_length=253)
    port = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=65535
    )
    url = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500, help_text="The webhook's https:// URL."
    )
    ca_cert = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100_000, help_text="PEM CA certificate(s)."
    )
    client_cert = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100_000, help_text="PEM client certificate."
    )
    client_key = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        max_length=100_000,
        help_text="PEM private key of the client certificate (kept in the vault; empty removes it).",
    )
    secret_header = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100, help_text="e.g. Authorization"
    )
    header_value = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        max_length=4096,
        help_text="Value of the secret header (kept in the vault; empty removes it).",
    )
    enabled = serializers.BooleanField(required=False, default=True)
    action_prefix = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=80, help_text="Forward only these actions."
    )
    forward_history = serializers.BooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text="On create: forward the whole audit log, not only the events from now on.",
    )


class SiemTestSerializer(serializers.Serializer):
    accepted = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)

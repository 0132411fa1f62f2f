"""Input and output shapes of the adapter API (explicit; enums from the models)."""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework import serializers

from directory.models import AccountStatus, AccountType, ProvisioningEvent
from provisioning.models import EntryStatus
from provisioning.selectors import masked
from provisioning.services.adapter import (
    LEASE_FLOOR_SECONDS,
    MAX_BATCH,
    MAX_LEASE_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
)
from provisioning.services.reports import MAX_REPORTS


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know (a typo must not be silently ignored)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: [gettext("Unknown field.")] for k in unknown})
        return super().to_internal_value(data)


class PullInputSerializer(StrictSerializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_BATCH, default=50)
    lease_seconds = serializers.IntegerField(
        min_value=LEASE_FLOOR_SECONDS,
        max_value=MAX_LEASE_SECONDS,
        required=False,
        help_text="How long the entries stay yours (default BLAZON_ADAPTER_LEASE_SECONDS, 300; "
        "at least BLAZON_ADAPTER_MIN_LEASE_SECONDS, 10).",
    )


class LeaseInputSerializer(StrictSerializer):
    lease_seconds = serializers.IntegerField(
        min_value=LEASE_FLOOR_SECONDS,
        max_value=MAX_LEASE_SECONDS,
        required=False,
        help_text="At least BLAZON_ADAPTER_MIN_LEASE_SECONDS (10).",
    )


class SuccessInputSerializer(StrictSerializer):
    native_identifier = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="The application's identifier of the account or entitlement (a DN, an id).",
    )
    attributes = serializers.DictField(required=False, help_text="Values the application set or returned.")
    detail = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class FailureInputSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, help_text="What went wrong (shown to the resolver).")
    final = serializers.BooleanField(
        default=False,
        help_text="true: the adapter gave up (manual resolution); false: try again later.",
    )
    retry_after_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_RETRY_AFTER_SECONDS, required=False, help_text="Transient only."
    )


class SealedSecretSerializer(serializers.Serializer):
    alg = serializers.CharField(help_text="RSA-OAEP-256+A256GCM")
    kid = serializers.CharField(help_text="SHA-256 of the public key (DER) it was sealed to.")
    encrypted_key = serializers.CharField(help_text="Base64: the AES-256 key, RSA-OAEP-SHA256 encrypted.")
    nonce = serializers.CharField(help_text="Base64: the 12-byte AES-GCM nonce.")
    ciphertext = serializers.CharField(help_text="Base64: the value, AES-256-GCM (tag appended).")
    aad = serializers.CharField(help_text="The associated data: blazon.adapter.secret:entry=<id>.")


class DeliveredAccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    identifier = serializers.CharField()
    native_identifier = serializers.CharField(allow_null=True)
    account_type = serializers.ChoiceField(choices=AccountType.choices)
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    attributes = serializers.DictField()


class DeliveredEntitlementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    identifier = serializers.CharField()
    native_identifier = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    attributes = serializers.DictField()


class DeliveredUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    display_name = serializers.CharField()
    status = serializers.CharField()


class DeliveredEntrySerializer(serializers.Serializer):
    """One entry as an adapter receives it: everything needed to act, secrets sealed."""

    id = serializers.IntegerField()
    event_type = serializers.ChoiceField(choices=ProvisioningEvent.choices)
    resource = serializers.CharField(help_text="The resource's code.")
    status = serializers.ChoiceField(choices=EntryStatus.choices)
    attempt = serializers.IntegerField(help_text="1 on the first pull; more after expired leases or retries.")
    lease_until = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    account = DeliveredAccountSerializer(allow_null=True)
    entitlement = DeliveredEntitlementSerializer(allow_null=True)
    user = DeliveredUserSerializer(allow_null=True)
    payload = serializers.DictField(help_text="The event's data; never a secret in clear.")
    secret = SealedSecretSerializer(
        allow_null=True, help_text="The secret the event carries (password), sealed to your key."
    )
    secret_error = serializers.CharField(allow_null=True)


class PullOutputSerializer(serializers.Serializer):
    lease_until = serializers.DateTimeField()
    entries = DeliveredEntrySerializer(many=True)


class EntryStateSerializer(serializers.Serializer):
    """The core's view of an entry after a lease or report call."""

    id = serializers.IntegerField()
    event_type = serializers.ChoiceField(choices=ProvisioningEvent.choices)
    status = serializers.ChoiceField(choices=EntryStatus.choices)
    lease_until = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    transient_failures = serializers.IntegerField()
    not_before = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    result = serializers.DictField()
    manual_task = serializers.IntegerField(source="manual_task_id", allow_null=True)


class AdapterMeSerializer(serializers.Serializer):
    name = serializers.CharField()
    resources = serializers.ListField(child=serializers.CharField())
    key_id = serializers.CharField()


class EntrySerializer(EntryStateSerializer):
    """An entry as administrators read it (``/api/v1/provisioning-entries/``)."""

    resource = serializers.CharField(source="resource.code")
    mode = serializers.CharField()
    account = serializers.IntegerField(source="account_id", allow_null=True)
    entitlement = serializers.IntegerField(source="entitlement_id", allow_null=True)
    correlation_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    lease_owner = serializers.CharField(source="lease_owner.name", allow_null=True, default=None)
    result = serializers.SerializerMethodField(
        help_text="What the adapter reported (identifier, attributes); secret values masked."
    )

    def get_result(self, entry) -> dict:
        # what people read never repeats a secret an adapter may have put in its report
        return masked(entry.result)


class ResolveInputSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(
        choices=[("DONE", "Done by hand"), ("FAILED", "Could not be done")],
        help_text="DONE: you made the change by hand; FAILED: it cannot be made (the request is rolled back).",
    )
    native_identifier = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    attributes = serializers.DictField(required=False)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="Required when FAILED."
    )


class EntryCancelInputSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=2000, help_text="Why the application must not get this change (kept on the entry)."
    )


class CredentialInputSerializer(StrictSerializer):
    kind = serializers.ChoiceField(
        choices=["ACCOUNT_PASSWORD", "APPLICATION_CREDENTIAL"],
        help_text="An account's password (replaces the one in the vault) or an application credential.",
    )
    value = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=64 * 1024,
        style={"input_type": "password"},
        help_text="The credential; encrypted at rest by the vault, never returned nor logged.",
    )
    account_id = serializers.IntegerField(
        required=False, help_text="The entry's account (the default); any other account is refused."
    )
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The secret's name in the vault (default: `<resource>/<account> password`).",
    )


class CredentialOutputSerializer(serializers.Serializer):
    secret_id = serializers.UUIDField(help_text="The vault secret now holding the value.")
    entry_id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    stored = serializers.BooleanField(help_text="false: this upload was a retry; the first one stored it.")


class ReportItemSerializer(StrictSerializer):
    """One report of a batch: the fields of the single-entry success or failure call."""

    entry = serializers.IntegerField(min_value=1, help_text="The entry's id.")
    outcome = serializers.ChoiceField(choices=[("success", "success"), ("failure", "failure")])
    native_identifier = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    attributes = serializers.DictField(required=False)
    detail = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    final = serializers.BooleanField(required=False, default=False)
    retry_after_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_RETRY_AFTER_SECONDS, required=False
    )

    def validate(self, attrs):
        if attrs["outcome"] == "failure" and not (attrs.get("reason") or "").strip():
            raise serializers.ValidationError({"reason": [gettext("A failure needs a reason.")]})
        return attrs


class ReportsInputSerializer(StrictSerializer):
    reports = ReportItemSerializer(many=True, allow_empty=False, max_length=MAX_REPORTS)


class ReportErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="not_found, entry_not_leased, leased_by_other…")
    message = serializers.CharField()


class ReportResultSerializer(serializers.Serializer):
    entry = serializers.IntegerField()
    ok = serializers.BooleanField(help_text="true: the report counted (or had counted before).")
    state = EntryStateSerializer(allow_null=True, help_text="The entry as the core sees it now.")
    error = ReportErrorSerializer(allow_null=True, help_text="Why this report was refused.")


class ReportsOutputSerializer(serializers.Serializer):
    results = ReportResultSerializer(many=True)

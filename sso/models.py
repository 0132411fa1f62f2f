"""The SAML 2.0 identity provider: its signing keys, the service providers (SPs) that delegate
their login to Blazon, the stable opaque name each SP knows a user by, and the sign-in requests
waiting for the user to log in.

The IdP's private key is never stored here: ``IdPKey.secret`` points at a vault secret (envelope
encrypted, see ``vault.crypto``); only the public certificate is plain text.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


class KeyStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active (signs)")
    NEXT = "NEXT", _("Next (published, not signing yet)")
    RETIRED = "RETIRED", _("Retired")


class IdPKey(models.Model):
    """One signing key pair of the IdP. Exactly one is ACTIVE (signs responses); a NEXT key is
    already published in the metadata so SPs can trust it before a rotation promotes it."""

    status = models.CharField(max_length=10, choices=KeyStatus.choices, db_index=True)
    secret = models.OneToOneField(
        "vault.Secret", on_delete=models.PROTECT, related_name="+", help_text=_("The private key (PEM).")
    )
    certificate = models.TextField(help_text=_("The self-signed X.509 certificate (PEM)."))
    key_size = models.PositiveIntegerField()
    fingerprint_sha256 = models.CharField(max_length=95)
    not_after = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="ACTIVE"), name="sso_one_active_key"
            ),
            models.UniqueConstraint(fields=["status"], condition=Q(status="NEXT"), name="sso_one_next_key"),
        ]

    def __str__(self) -> str:
        return f"IdP key {self.pk} ({self.get_status_display()}, {self.fingerprint_sha256[:23]}…)"


class NameIDFormat(models.TextChoices):
    EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", _("E-mail address")
    PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", _("Persistent (opaque, per SP)")
    UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", _("Unspecified (username)")


class AttributeNameFormat(models.TextChoices):
    """The ``NameFormat`` of the attributes sent to an SP (SAML core §2.7.3.1). SPs look an
    attribute up by name *and* format: pysaml2 and Shibboleth map ``urn:oid:…`` names only when
    they come with the URI format."""

    AUTO = "auto", _("URI for URI names (urn:…, https://…), unspecified for the others")
    URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", _("URI, for every attribute")
    BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic", _("Basic, for every attribute")
    UNSPECIFIED = (
        "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
        _("Unspecified, for every attribute"),
    )


class AccessRule(models.TextChoices):
    ANY_ACTIVE_USER = "ANY", _("Any active user")
    RESOURCE_ACCOUNT = "RESOURCE", _("Users with an active account on the linked resource")
    ROLE_MEMBER = "ROLE", _("Members of the linked role")


class ServiceProvider(models.Model):
    """An application that delegates its login to Blazon over SAML 2.0 (a service provider).

    ``acs_endpoints`` is the list of assertion consumer services, ``[{"url": ..., "binding": ...,
    "index": n}]``; the first is the default. ``attribute_mapping`` maps a SAML attribute name
    to a user field (``email``, ``first_name``…) or ``attributes.<name>`` (a custom attribute)."""

    name = models.CharField(max_length=200)
    entity_id = models.CharField(max_length=1024, unique=True)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    acs_endpoints = models.JSONField(default=list)
    slo_url = models.CharField(max_length=1024, blank=True, help_text=_("Single logout service URL."))
    slo_binding = models.CharField(
        max_length=80,
        blank=True,
        choices=[(BINDING_REDIRECT, "HTTP-Redirect"), (BINDING_POST, "HTTP-POST")],
        default=BINDING_REDIRECT,
    )
    slo_timeout_seconds = models.PositiveSmallIntegerField(
        default=0,
        help_text=_(
            "Single logout: 0 sends the browser to the SP and waits for its answer; N > 0 logs "
            "the SP out in a frame of Blazon's page and goes on without its answer after N seconds."
        ),
    )
    certificate = models.TextField(
        blank=True, help_text=_("The SP's signing certificate (PEM), to verify its signed requests.")
    )
    require_signed_requests = models.BooleanField(default=False)
    nameid_format = models.CharField(
        max_length=80, choices=NameIDFormat.choices, default=NameIDFormat.PERSISTENT
    )
    attribute_mapping = models.JSONField(default=dict, blank=True)
    attribute_name_format = models.CharField(
        max_length=80, choices=AttributeNameFormat.choices, default=AttributeNameFormat.AUTO
    )
    access_rule = models.CharField(
        max_length=10, choices=AccessRule.choices, default=AccessRule.RESOURCE_ACCOUNT
    )
    # SET_NULL: deleting the resource or role must not be blocked by (or fail on) an SP; a RESOURCE
    # or ROLE rule left without its object lets nobody in (fail closed) and the console says so.
    resource = models.ForeignKey(
        "directory.Resource", null=True, blank=True, on_delete=models.SET_NULL, related_name="saml_sps"
    )
    role = models.ForeignKey(
        "directory.Role", null=True, blank=True, on_delete=models.SET_NULL, related_name="saml_sps"
    )
    launch_url = models.CharField(
        max_length=1024,
        blank=True,
        help_text=_("Optional RelayState sent on a launch from 'My applications'."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def access_broken(self) -> bool:
        """A resource/role rule whose resource or role was deleted: nobody may sign in."""
        return (self.access_rule == AccessRule.RESOURCE_ACCOUNT and self.resource_id is None) or (
            self.access_rule == AccessRule.ROLE_MEMBER and self.role_id is None
        )

    @property
    def default_acs(self) -> dict | None:
        return self.acs_endpoints[0] if self.acs_endpoints else None


class PersistentNameID(models.Model):
    """The opaque, stable name an SP knows a user by (NameID format persistent): random, one per
    user per SP, so SPs cannot correlate users between them."""

    service_provider = models.ForeignKey(ServiceProvider, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    value = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service_provider", "user"], name="sso_pnid_one_per_user"),
            models.UniqueConstraint(fields=["service_provider", "value"], name="sso_pnid_unique_value"),
        ]


class PendingAuthnRequest(models.Model):
    """An SP's AuthnRequest already verified, kept server-side while the user logs in. Its random
    id is the resume URL; it can be consumed once, before ``expires_at``."""

    id = models.CharField(primary_key=True, max_length=64)
    service_provider = models.ForeignKey(ServiceProvider, on_delete=models.CASCADE, related_name="+")
    request_id = models.CharField(max_length=256, blank=True)
    acs_url = models.CharField(max_length=1024)
    relay_state = models.CharField(max_length=1024, blank=True)
    force_authn = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

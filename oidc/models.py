"""The OpenID Connect provider: the relying parties (OIDC clients) that delegate their login to
Blazon, and the RSA keys that sign their ID tokens.

An ``OIDCClient`` wraps one django-oauth-toolkit ``Application`` whose grant type is the
authorization code: adapter clients (client credentials, ``provisioning.AdapterClient``) are
other applications and can never use the code flow, nor an OIDC client the client-credentials
grant. A ``SigningKey`` keeps its private key in the vault (``vault.Secret``), never in clear.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ClientAccess(models.TextChoices):
    EVERYONE = "EVERYONE", _("Every active user")
    ROLES = "ROLES", _("Members of the selected roles")


class OIDCClient(models.Model):
    """A relying party that logs its users in through Blazon (authorization code + PKCE)."""

    name = models.CharField(max_length=200, unique=True)
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="oidc_client"
    )
    allowed_scopes = models.JSONField(
        default=list, help_text=_("Scopes the client may ask for; 'openid' is always among them.")
    )
    access = models.CharField(max_length=10, choices=ClientAccess.choices, default=ClientAccess.EVERYONE)
    roles = models.ManyToManyField("directory.Role", blank=True, related_name="oidc_clients")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SigningKeyState(models.TextChoices):
    ACTIVE = "ACTIVE", _("Signs new ID tokens")
    PREVIOUS = "PREVIOUS", _("Published in the JWKS, no longer signs")
    RETIRED = "RETIRED", _("Withdrawn from the JWKS")


class SigningKey(models.Model):
    """An RS256 key pair for ID tokens. The private key is a vault secret; the public half is
    published in the JWKS while the key is ACTIVE or PREVIOUS (tokens it signed still verify)."""

    kid = models.CharField(max_length=64, unique=True, help_text=_("RFC 7638 thumbprint of the public key."))
    secret = models.OneToOneField("vault.Secret", on_delete=models.PROTECT, related_name="+")
    public_jwk = models.JSONField()
    state = models.CharField(max_length=10, choices=SigningKeyState.choices, default=SigningKeyState.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True, help_text=_("When a newer key replaced it."))
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="ACTIVE"), name="oidc_one_active_signing_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.state})"


class Authorization(models.Model):
    """One authorization code the authorize endpoint issued, kept after the code is spent (DOT
    deletes its ``Grant``): how the user had authenticated, for every ID token issued from it
    (refreshes included: ``auth_time`` and ``amr``), and which tokens it produced, revoked if
    the code is presented again (RFC 6749 §4.1.2). The code itself is kept only as a digest."""

    code_digest = models.CharField(max_length=64, unique=True, help_text=_("SHA-256 of the code (hex)."))
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    auth_time = models.DateTimeField(
        help_text=_("When the user authenticated (not when the code was issued).")
    )
    amr = models.JSONField(default=list, help_text=_("RFC 8176 authentication method references."))
    created_at = models.DateTimeField(auto_now_add=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    # what the redemption issued (DOT's rows; plain ids: the tokens may be deleted before this)
    token_family = models.UUIDField(null=True, blank=True, db_index=True)
    access_token_id = models.BigIntegerField(null=True, blank=True)
    id_token_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="oidc_authz_created_idx")]

    def __str__(self) -> str:
        return f"Authorization #{self.pk}"

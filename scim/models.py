"""Registered SCIM clients (an HR system, Okta, Entra ID): who may call ``/scim/v2/``.

A client authenticates with a bearer token of which only the SHA-256 digest is stored (shown
once, by ``manage.py scim_client_register``). Each client acts through its own service identity
(``user``): the requester of the requests its writes become, so lineage and audit name it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ScimScope(models.TextChoices):
    READ = "read", _("Read only")
    WRITE = "write", _("Read and write")


class ScimClient(models.Model):
    """An integrator allowed to read (and, with the write scope, change) the directory by SCIM."""

    name = models.CharField(max_length=100, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="scim_client"
    )
    scope = models.CharField(max_length=10, choices=ScimScope.choices, default=ScimScope.WRITE)
    manage_groups = models.BooleanField(
        default=False,
        help_text="May create groups (empty roles), rename and delete the ones it created.",
    )
    prefix = models.CharField(max_length=16, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def may_write(self) -> bool:
        return self.scope == ScimScope.WRITE


class ScimExternalId(models.Model):
    """A client's own identifier of a user or a role (SCIM ``externalId``, RFC 7643 §3.1): each
    client sees only the ones it set."""

    client = models.ForeignKey(ScimClient, on_delete=models.CASCADE, related_name="external_ids")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scim_external_ids",
    )
    role = models.ForeignKey(
        "directory.Role", null=True, blank=True, on_delete=models.CASCADE, related_name="scim_external_ids"
    )
    external_id = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "user"], name="scim_external_id_user"),
            models.UniqueConstraint(fields=["client", "role"], name="scim_external_id_role"),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, role__isnull=True)
                | models.Q(user__isnull=True, role__isnull=False),
                name="scim_external_id_one_object",
            ),
        ]
        indexes = [models.Index(fields=["client", "external_id"])]


class ScimGroup(models.Model):
    """A role a SCIM client created (POST /Groups): an empty role administrators may fill with
    resources and entitlements. The client may rename or delete only these."""

    role = models.OneToOneField("directory.Role", on_delete=models.CASCADE, related_name="scim_group")
    client = models.ForeignKey(ScimClient, on_delete=models.PROTECT, related_name="groups")
    created_at = models.DateTimeField(auto_now_add=True)

"""The password synchronisation panel shown on a resource's provisioning tab."""

from __future__ import annotations

from typing import Any

from django import template

from directory.models import ProvisioningEvent
from passwords.models import ResourcePasswordSync

register = template.Library()


@register.inclusion_tag("passwords/console/_resource_sync.html", takes_context=True)
def password_sync_panel(context: dict[str, Any], resource: Any) -> dict[str, Any]:
    setting = ResourcePasswordSync.objects.filter(resource_id=resource.pk).first()
    return {
        "resource": resource,
        "enabled": bool(setting and setting.enabled),
        "mode": resource.mode_for(ProvisioningEvent.CHANGE_PASSWORD),
        "caps": context.get("caps", {}),
        "csrf_token": context.get("csrf_token"),
    }

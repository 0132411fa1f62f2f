"""Internal administrative roles on the API: administrator (everything), help desk (read
everything, operate users and accounts), auditor (read-only). Everyone else: denied."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from blazon.permissions import can


class AdminRolePermission(BasePermission):
    """Reads need the ``view`` capability; writes need ``manage_config`` unless the view says
    otherwise through ``required_capability``."""

    message = _("Your administrative role does not allow this.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            capability = getattr(view, "read_capability", "view")
        else:
            capability = getattr(view, "write_capability", "manage_config")
        return can(user, capability)


class ConsoleRolePermission(BasePermission):
    """Any console role; the view may ask for a capability on its create (``create_capability``).
    The services decide who may act on which object (requests, tasks, delegations)."""

    message = _("Your administrative role does not allow this.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated or not can(user, "view"):
            return False
        capability = getattr(view, "create_capability", None)
        if capability and getattr(view, "action", None) == "create":
            return can(user, capability)
        return True

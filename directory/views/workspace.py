"""The self-service workspace: my profile and my accesses, each with the reason I have it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from blazon.errors import DomainError
from blazon.language import language_cookie_sync
from blazon.panels import WORKSPACE_HOME, panels
from blazon.permissions import can
from directory.models import AccountRoleGrant, EntitlementMembership, MembershipRoleGrant
from directory.selectors import user_attribute_rows
from directory.services.users.language import user_language_set
from directory.views.common import workspace_required


class LanguageForm(forms.Form):
    """My language: one of ``settings.LANGUAGES``, or nothing for the browser's."""

    language = forms.ChoiceField(label=gettext_lazy("Language"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", gettext_lazy("The browser's language")), *settings.LANGUAGES]


def _why(manual: bool, roles: list[str]) -> str:
    parts = []
    if manual:
        parts.append(_("manual"))
    if roles:
        names = ", ".join(roles)
        if len(roles) == 1:
            parts.append(_("granted by role %(roles)s") % {"roles": names})
        else:
            parts.append(_("granted by roles %(roles)s") % {"roles": names})
    return "; ".join(parts) or _("manual")


def _roles(grant_model: Any, field: str, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    rows = grant_model.objects.filter(**{f"{field}__in": ids}).values_list(f"{field}_id", "role__name")
    for obj_id, name in rows.order_by("role__name"):
        out.setdefault(obj_id, []).append(name)
    return out


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"can_console": can(request.user, "view"), **extra}


@workspace_required
def home(request: HttpRequest) -> HttpResponse:
    me = request.user
    context = _context(
        request,
        me=me,
        attributes=user_attribute_rows(me),
        n_accounts=me.accounts.count(),
        n_roles=me.role_memberships.count(),
        n_entitlements=EntitlementMembership.objects.filter(account__owner=me).count(),
        # what needs me: panels the apps above the directory register (blazon/panels.py)
        panels=panels(WORKSPACE_HOME, me),
        language_form=LanguageForm(initial={"language": me.language}),
    )
    return render(request, "workspace/home.html", context)


@workspace_required
@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """Save my language preference (the Profile panel, the header's switcher) and show the page
    I came from in it."""
    form = LanguageForm(request.POST)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
        back = ""
    response = HttpResponseRedirect(back or "/workspace/")
    if not form.is_valid():
        messages.error(request, _("Choose a language from the list."))
        return response
    try:
        user = user_language_set(
            actor=request.user, source="workspace", user=request.user, language=form.cleaned_data["language"]
        )
    except DomainError as exc:
        messages.error(request, str(exc))
        return response
    request.user.language = user.language
    chosen = user.language or translation.get_language_from_request(request)
    translation.activate(chosen)
    request.LANGUAGE_CODE = translation.get_language()
    language_cookie_sync(request, response, user.language)
    messages.success(request, _("Your language is saved."))
    return response


@workspace_required
def accesses(request: HttpRequest) -> HttpResponse:
    me = request.user
    accounts = list(me.accounts.select_related("resource").order_by("resource__name", "identifier"))
    account_roles = _roles(AccountRoleGrant, "account", [a.pk for a in accounts])
    memberships = list(
        EntitlementMembership.objects.filter(account__owner=me)
        .select_related("entitlement", "account__resource")
        .order_by("account__resource__name", "entitlement__name")
    )
    membership_roles = _roles(MembershipRoleGrant, "membership", [m.pk for m in memberships])
    role_memberships = me.role_memberships.select_related("role").order_by("role__name")
    context = _context(
        request,
        accounts=[(a, _why(a.manual, account_roles.get(a.pk, []))) for a in accounts],
        memberships=[(m, _why(m.manual, membership_roles.get(m.pk, []))) for m in memberships],
        role_memberships=[
            (rm, _("assignment policy") if rm.management == "ASSIGNMENT_POLICY" else _("manual"))
            for rm in role_memberships
        ],
    )
    return render(request, "workspace/accesses.html", context)

"""The console's life-cycle buttons on a user's and an account's page. Every manual intervention
is a request (seed 002, "Requisições"): the button explains what will happen, then creates the
request of the matching type with source ``console``, so validation and approval policies apply
and the change shows up as a request with its stages. The console then shows that request.

Only the actions the transition table allows from the console are offered (and accepted): an
ACTIVE user has no "Activate", a REVOKED user none but removal. Removal itself has no request type
(the seed lists 20; removal is an administrator's directory operation) and stays on the user's
page in the directory app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from blazon.console import capability_required, render_console
from blazon.console.access import report_domain_error
from blazon.errors import DomainError
from directory.models import Account, Source, User
from directory.services.lifecycle import account_actions_allowed, user_actions_allowed
from requests_workflow.models import RequestType
from requests_workflow.services.requests import request_create
from requests_workflow.views.common import request_outcome

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class Action:
    request_type: str
    label: StrOrPromise
    explain: StrOrPromise
    danger: bool = False


USER_ACTIONS: dict[str, Action] = {
    "activate": Action(
        RequestType.ACTIVATE_USER,
        _("Activate"),
        _(
            "The identity becomes ACTIVE again; its regular accounts are re-enabled and follow-up events "
            "opened by an earlier inactivation are canceled."
        ),
    ),
    "inactivate": Action(
        RequestType.INACTIVATE_USER,
        _("Inactivate"),
        _(
            "The identity becomes INACTIVE: its regular accounts are inactivated and the applications are "
            "told so, owner-change events are opened for what it is responsible for. It can be activated "
            "again later."
        ),
    ),
    "revoke": Action(
        RequestType.REVOKE_USER,
        _("Revoke"),
        _(
            "The identity becomes REVOKED: its accounts are revoked, its roles removed, owner changes "
            "opened for what it is responsible for, administrative check-outs released. A revoked "
            "identity cannot be activated again."
        ),
        danger=True,
    ),
    "lock": Action(
        RequestType.LOCK_USER,
        _("Lock login"),
        _("The user cannot log in to Blazon any more. The status and accesses do not change."),
    ),
    "unlock": Action(RequestType.UNLOCK_USER, _("Unlock login"), _("The user can log in again.")),
}

ACCOUNT_ACTIONS: dict[str, Action] = {
    "activate": Action(
        RequestType.ACTIVATE_ACCOUNT,
        _("Activate account"),
        _("The account is enabled again and the application is told so."),
    ),
    "inactivate": Action(
        RequestType.INACTIVATE_ACCOUNT,
        _("Inactivate account"),
        _("The account is disabled in the application; its entitlements are kept."),
    ),
    "revoke": Action(
        RequestType.REVOKE_ACCOUNT,
        _("Revoke account"),
        _(
            "The account and its entitlements are deleted in the application. If the application "
            "refuses, the account is restored in the directory."
        ),
        danger=True,
    ),
}


class ActionForm(forms.Form):
    justification = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Justification"),
        help_text=_("Why: kept with the request and its audit trail (a validation policy may require it)."),
    )


def _act(
    request: HttpRequest,
    action: Action,
    *,
    beneficiary: User,
    account: Account | None,
    form: ActionForm,
) -> HttpResponse | None:
    """Create the request; on success say what became of it and show it."""
    try:
        req = request_create(
            actor=request.user,  # type: ignore[arg-type]  # capability_required: logged in
            source=Source.CONSOLE,
            request_type=action.request_type,
            beneficiary=beneficiary,
            account=account,
            justification=form.cleaned_data["justification"],
        )
    except DomainError as error:
        report_domain_error(request, error, form)
        return None
    req.refresh_from_db()  # in-process mode ran it on commit; with Celery it is still on its way
    messages.success(
        request,
        gettext("%(action)s: request #%(id)s for %(username)s, %(outcome)s.")
        % {
            "action": action.label,
            "id": req.pk,
            "username": beneficiary.username,
            "outcome": request_outcome(req),
        },
    )
    return redirect("console_requests:detail", pk=req.pk)


@require_http_methods(["GET", "POST"])
@capability_required("manage_users")
def user_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    spec = USER_ACTIONS.get(action)
    if spec is None:
        raise Http404("Unknown action")
    user = get_object_or_404(User, pk=pk)
    allowed = user_actions_allowed(user, source=Source.CONSOLE)
    form = ActionForm(request.POST if request.method == "POST" else None)
    status = 200
    if action not in allowed:
        status_text = user.get_status_display()
        if user.login_locked:
            status_text = gettext("%(status)s, login locked") % {"status": status_text}
        messages.error(
            request,
            gettext("%(action)s is not possible for %(username)s (%(status)s).")
            % {"action": spec.label, "username": user.username, "status": status_text},
        )
        status = 409
    elif request.method == "POST" and form.is_valid():
        done = _act(request, spec, beneficiary=user, account=None, form=form)
        if done is not None:
            return done
    context = {
        "subject": user,
        "action": action,
        "spec": spec,
        "form": form,
        "allowed": action in allowed,
        "post_url": request.path,
        "back_url": reverse("console:user_detail", args=[user.pk]),
    }
    return render_console(request, "console/requests/action.html", context, status=status)


@require_http_methods(["GET", "POST"])
@capability_required("manage_users")
def account_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    spec = ACCOUNT_ACTIONS.get(action)
    if spec is None:
        raise Http404("Unknown action")
    account = get_object_or_404(Account.objects.select_related("resource", "owner"), pk=pk)
    allowed = account_actions_allowed(account)
    form = ActionForm(request.POST if request.method == "POST" else None)
    status = 200
    if action not in allowed or account.owner is None:
        messages.error(
            request,
            gettext("%(action)s is not possible for %(account)s (%(status)s).")
            % {"action": spec.label, "account": account, "status": account.get_status_display()},
        )
        status = 409
    elif request.method == "POST" and form.is_valid():
        done = _act(request, spec, beneficiary=account.owner, account=account, form=form)
        if done is not None:
            return done
    context = {
        "subject": account.owner,
        "account": account,
        "action": action,
        "spec": spec,
        "form": form,
        "allowed": action in allowed,
        "post_url": request.path,
        "back_url": reverse("console:account_detail", args=[account.pk]),
    }
    return render_console(request, "console/requests/action.html", context, status=status)

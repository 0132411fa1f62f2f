"""The personal vault in the workspace (seed 002, "Cofre pessoal"): a user stores, views, renames,
changes and deletes their own secrets, and sees the credentials checked in to them. Every reveal
asks for the user's password again — or a current code of their authenticator app (TOTP), when they
set one up — within the last few minutes (``REAUTH_SECONDS``) and is audited by the vault; nothing
is ever shown to anyone but the secret's owner."""

from __future__ import annotations

import time
from typing import cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from authn.factors import CODE_DIGITS, totp_enrolled, totp_verify
from blazon.audit.services import audit_record
from blazon.console.access import workspace_required
from blazon.errors import DomainError
from directory.models import Source, User
from vault.models import AdministrativeCheckout, CheckoutStatus, Secret, SecretKind
from vault.services import secret_delete, secret_reveal, secret_store, secret_update

REAUTH_SECONDS = 300
SESSION_KEY = "personal_vault_unlocked_at"
FAILURES_KEY = "personal_vault_failures"
#: Wrong passwords or codes allowed in a session within ``REAUTH_SECONDS`` before unlocking is
#: refused for the rest of that time (a six-digit code is not guessed in five tries).
MAX_FAILURES = 5


class SecretForm(forms.Form):
    name = forms.CharField(max_length=200)
    value = forms.CharField(
        max_length=4000,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Empty: unchanged.",
    )


def _unlocked(request: HttpRequest) -> bool:
    at = request.session.get(SESSION_KEY)
    return isinstance(at, int | float) and 0 <= time.time() - at < REAUTH_SECONDS


def _mine(request: HttpRequest, pk: str) -> Secret:
    return get_object_or_404(Secret, pk=pk, owner=request.user, kind=SecretKind.PERSONAL)


@workspace_required
def vault_home(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    secrets = Secret.objects.filter(owner=user, kind=SecretKind.PERSONAL).order_by("name")
    held = AdministrativeCheckout.objects.filter(user=user, status=CheckoutStatus.ACTIVE).select_related(
        "account__resource"
    )
    return render(
        request,
        "workspace/privileged/vault.html",
        {
            "secrets": secrets,
            "held": held,
            "unlocked": _unlocked(request),
            "totp": totp_enrolled(user),
            "form": SecretForm(),
        },
    )


def _recent_failures(request: HttpRequest) -> list[float]:
    now = time.time()
    stored = request.session.get(FAILURES_KEY)
    return [t for t in (stored if isinstance(stored, list) else []) if 0 <= now - t < REAUTH_SECONDS]


def _reauth_audit(user: User, action: str, factor: str) -> None:
    audit_record(
        actor=user, action=action, obj=user, new={"factor": factor}, source=Source.WORKSPACE, subject_user_id=user.pk
    )  # fmt: skip


@workspace_required
@require_POST
def vault_unlock(request: HttpRequest) -> HttpResponse:
    """Confirm the password, or a current TOTP code when the user has an authenticator app, before
    reveals (for ``REAUTH_SECONDS``). A wrong one keeps the vault locked and is audited."""
    user = cast(User, request.user)
    code = request.POST.get("code", "").strip().replace(" ", "")
    factor = "totp" if code else "password"
    failures = _recent_failures(request)
    if len(failures) >= MAX_FAILURES:
        request.session.pop(SESSION_KEY, None)
        messages.error(request, "Too many wrong attempts: the vault stays locked for a few minutes.")
        return redirect("workspace_privileged:vault")
    if code:
        # a code of the app only: a recovery code is for signing in, not spent here
        ok = code.isdigit() and len(code) == CODE_DIGITS and totp_enrolled(user)
        ok = ok and totp_verify(user=user, code=code)
    else:
        ok = user.check_password(request.POST.get("password", ""))
    if ok:
        request.session[SESSION_KEY] = time.time()
        request.session.pop(FAILURES_KEY, None)
        _reauth_audit(user, "vault.reauth_confirmed", factor)
        messages.success(request, _("Vault unlocked for 5 minutes."))
    else:
        request.session.pop(SESSION_KEY, None)
        request.session[FAILURES_KEY] = [*failures, time.time()]
        _reauth_audit(user, "vault.reauth_failed", factor)
        if code:
            messages.error(request, _("Wrong code: the vault stays locked."))
        else:
            messages.error(request, _("Wrong password: the vault stays locked."))
    return redirect("workspace_privileged:vault")


@workspace_required
@require_POST
def vault_store(request: HttpRequest) -> HttpResponse:
    form = SecretForm(request.POST)
    if not form.is_valid() or not form.cleaned_data["value"]:
        messages.error(request, _("Give a name and a value."))
        return redirect("workspace_privileged:vault")
    try:
        secret_store(
            actor=request.user,
            source=Source.WORKSPACE,
            owner=request.user,
            kind=SecretKind.PERSONAL,
            name=form.cleaned_data["name"],
            value=form.cleaned_data["value"],
        )
        messages.success(request, _("%(value)s stored in your vault.") % {"value": form.cleaned_data["name"]})
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("workspace_privileged:vault")


@workspace_required
def vault_edit(request: HttpRequest, pk: str) -> HttpResponse:
    secret = _mine(request, pk)
    form = SecretForm(request.POST or None, initial={"name": secret.name})
    if request.method == "POST" and form.is_valid():
        try:
            secret_update(
                actor=request.user,
                source=Source.WORKSPACE,
                secret=secret,
                name=form.cleaned_data["name"],
                value=form.cleaned_data["value"] or None,
            )
            messages.success(request, _("Saved."))
            return redirect("workspace_privileged:vault")
        except DomainError as error:
            messages.error(request, error.message)
    return render(request, "workspace/privileged/vault_edit.html", {"secret": secret, "form": form})


@workspace_required
@require_POST
def vault_delete(request: HttpRequest, pk: str) -> HttpResponse:
    secret = _mine(request, pk)
    secret_delete(actor=request.user, source=Source.WORKSPACE, secret=secret)
    messages.success(request, _("%(name)s deleted from your vault.") % {"name": secret.name})
    return redirect("workspace_privileged:vault")


@workspace_required
@require_POST
def vault_reveal(request: HttpRequest, pk: str) -> HttpResponse:
    secret = _mine(request, pk)
    if not _unlocked(request):
        messages.error(
            request,
            _(
                "Confirm your password (or authenticator code) first: reveals need it within the last 5 minutes."
            ),
        )
        return redirect("workspace_privileged:vault")
    value = secret_reveal(actor=request.user, source=Source.WORKSPACE, secret=secret)
    return render(request, "workspace/privileged/vault_reveal.html", {"secret": secret, "value": value})

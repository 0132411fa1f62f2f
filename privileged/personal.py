"""The personal vault in the workspace (seed 002, "Cofre pessoal"): a user stores, views, renames,
changes and deletes their own secrets, and sees the credentials checked in to them. Every reveal
asks for the user's password again within the last few minutes (``REAUTH_SECONDS``) and is audited
by the vault; nothing is ever shown to anyone but the secret's owner."""

from __future__ import annotations

import time
from typing import cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from blazon.audit.services import audit_record
from blazon.console.access import workspace_required
from blazon.errors import DomainError
from directory.models import Source, User
from vault.models import AdministrativeCheckout, CheckoutStatus, Secret, SecretKind
from vault.services import secret_delete, secret_reveal, secret_store, secret_update

REAUTH_SECONDS = 300
SESSION_KEY = "personal_vault_unlocked_at"


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
        {"secrets": secrets, "held": held, "unlocked": _unlocked(request), "form": SecretForm()},
    )


@workspace_required
@require_POST
def vault_unlock(request: HttpRequest) -> HttpResponse:
    """Confirm the password before reveals (for ``REAUTH_SECONDS``)."""
    user = cast(User, request.user)
    if user.check_password(request.POST.get("password", "")):
        request.session[SESSION_KEY] = time.time()
        messages.success(request, _("Vault unlocked for 5 minutes."))
    else:
        request.session.pop(SESSION_KEY, None)
        audit_record(
            actor=user,
            action="vault.reauth_failed",
            obj=user,
            new={},
            source=Source.WORKSPACE,
            subject_user_id=user.pk,
        )
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
        messages.error(request, _("Confirm your password first: reveals need it within the last 5 minutes."))
        return redirect("workspace_privileged:vault")
    value = secret_reveal(actor=request.user, source=Source.WORKSPACE, secret=secret)
    return render(request, "workspace/privileged/vault_reveal.html", {"secret": secret, "value": value})

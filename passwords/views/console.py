"""Console pages: password and password-change policies, the forbidden words, the help-desk
reset of a user's password and a resource's password synchronisation setting."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from blazon.errors import DomainError
from blazon.permissions import can
from directory.models import Resource, Source, User
from directory.views.common import capability_required, report_domain_error
from directory.views.console import render_console
from passwords.forms import PasswordChangePolicyForm, PasswordPolicyForm, WordsForm
from passwords.models import ForbiddenWord, PasswordChangePolicy, PasswordPolicy
from passwords.rules import shipped_words
from passwords.selectors import change_policy_for, password_expires_at, password_state, policy_for
from passwords.services import config, password_helpdesk_temporary, reset_link_create, resource_sync_set

SOURCE = Source.CONSOLE

KINDS: dict[str, dict[str, Any]] = {
    "password": {
        "model": PasswordPolicy,
        "form": PasswordPolicyForm,
        "title": "Password policies",
        "one": "password policy",
        "list": "passwords:policies",
    },
    "change": {
        "model": PasswordChangePolicy,
        "form": PasswordChangePolicyForm,
        "title": "Password-change policies",
        "one": "password-change policy",
        "list": "passwords:change_policies",
    },
}


def _policies(request: HttpRequest, kind: str) -> HttpResponse:
    spec = KINDS[kind]
    policies = (
        spec["model"].objects.select_related("organization").order_by("-is_default", "priority", "name")
    )
    return render_console(
        request, "passwords/console/policies.html", {"kind": kind, "spec": spec, "policies": policies}
    )


@capability_required("view")
def policies(request: HttpRequest) -> HttpResponse:
    return _policies(request, "password")


@capability_required("view")
def change_policies(request: HttpRequest) -> HttpResponse:
    return _policies(request, "change")


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def policy_edit(request: HttpRequest, kind: str, pk: int | None = None) -> HttpResponse:
    spec = KINDS[kind]
    policy = get_object_or_404(spec["model"], pk=pk) if pk else None
    form = spec["form"](
        request.POST or None, instance=spec["model"]() if policy is None else spec["model"].objects.get(pk=pk)
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = config.policy_save(
                actor=request.user,
                source=SOURCE,
                model=spec["model"],
                data=form.service_data(),
                policy=policy,
            )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"The {spec['one']} {saved.name} was saved.")
            return redirect(spec["list"])
    title = f"Edit {spec['one']} {policy.name}" if policy else f"New {spec['one']}"
    context = {
        "form": form,
        "title": title,
        "cancel_url": reverse(spec["list"]),
        "kind": f"{kind}-policy",
    }
    return render_console(request, "console/form.html", context)


@require_POST
@capability_required("manage_config")
def policy_delete(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    spec = KINDS[kind]
    policy = get_object_or_404(spec["model"], pk=pk)
    config.policy_delete(actor=request.user, source=SOURCE, policy=policy)
    messages.success(request, f"The {spec['one']} {policy.name} was deleted.")
    return redirect(spec["list"])


@require_http_methods(["GET", "POST"])
@capability_required("view")
def dictionary(request: HttpRequest) -> HttpResponse:
    form = WordsForm(request.POST or None)
    if request.method == "POST":
        if not can(request.user, "manage_config"):
            raise PermissionDenied("Changing the dictionary needs the 'manage_config' capability.")
        if form.is_valid():
            try:
                added = config.forbidden_words_add(
                    actor=request.user, source=SOURCE, text=form.cleaned_data["words"]
                )
            except DomainError as error:
                report_domain_error(request, error, form)
            else:
                messages.success(
                    request, f"{len(added)} word(s) added." if added else "These words were already listed."
                )
                return redirect("passwords:dictionary")
    context = {
        "form": form,
        "words": ForbiddenWord.objects.select_related("created_by").order_by("word"),
        "n_shipped": len(shipped_words()),
    }
    return render_console(request, "passwords/console/dictionary.html", context)


@require_POST
@capability_required("manage_config")
def dictionary_remove(request: HttpRequest, pk: int) -> HttpResponse:
    word = get_object_or_404(ForbiddenWord, pk=pk)
    config.forbidden_word_remove(actor=request.user, source=SOURCE, word=word)
    messages.success(request, f"“{word.word}” removed.")
    return redirect("passwords:dictionary")


@require_http_methods(["GET", "POST"])
@capability_required("manage_users")
def helpdesk(request: HttpRequest, pk: int) -> HttpResponse:
    """Help-desk reset: a temporary password shown once, or a single-use link e-mailed to the user."""
    subject = get_object_or_404(User.objects.select_related("organization"), pk=pk)
    temporary = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "temporary":
                temporary = password_helpdesk_temporary(user=subject, actor=request.user, source=SOURCE)
                messages.success(
                    request, f"{subject.username} must change this temporary password at their next login."
                )
            elif action == "link":
                reset_link_create(
                    user=subject, actor=request.user, source=SOURCE, base_url=request.build_absolute_uri("/")
                )
                messages.success(request, f"A single-use reset link was e-mailed to {subject.email}.")
                return redirect("passwords:helpdesk", pk=subject.pk)
            else:
                messages.error(request, "Choose a temporary password or a reset link.")
        except DomainError as error:
            report_domain_error(request, error)
    state = password_state(subject)
    policy = policy_for(subject)
    context = {
        "subject": subject,
        "temporary": temporary,
        "state": state,
        "policy": policy,
        "change_policy": change_policy_for(subject),
        "expires_at": password_expires_at(subject, policy=policy),
    }
    response = render_console(request, "passwords/console/helpdesk.html", context)
    if temporary:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@capability_required("manage_config")
def resource_sync(request: HttpRequest, pk: int) -> HttpResponse:
    resource = get_object_or_404(Resource, pk=pk)
    enabled = request.POST.get("enabled") in {"1", "true", "on"}
    resource_sync_set(actor=request.user, source=SOURCE, resource=resource, enabled=enabled)
    messages.success(
        request,
        f"{resource.name} {'now receives' if enabled else 'no longer receives'} its users' new passwords.",
    )
    return redirect(f"/console/resources/{resource.pk}/?tab=provisioning")

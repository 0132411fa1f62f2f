"""Console settings: administrator-defined attributes (of users, or of one resource's accounts
or entitlements) and the username policy, with a "try it" box that shows the username the
policy being edited would produce, without saving anything.

Every page needs ``manage_config``; ``directory.services.config`` validates and saves, and its
field errors come back on the forms."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_http_methods

from blazon.errors import DomainError, ValidationFailed
from directory.models import AttributeDefinition, AttributeScope, Resource, UsernamePolicy
from directory.selectors import attribute_holders
from directory.views.common import capability_required, list_page, report_domain_error
from directory.views.console import render_console
from directory.views.forms import AttributeDefinitionForm, UsernamePolicyForm, UsernameTryForm

SOURCE = "console"
PREVIEW_MAX_SUFFIX = 100000  # the highest the policy accepts


# --- attribute definitions ------------------------------------------------------------------


@require_GET
@capability_required("manage_config")
def attributes_list(request: HttpRequest) -> HttpResponse:
    qs = AttributeDefinition.objects.select_related("resource")
    context = list_page(
        request,
        qs,
        search=("name", "label"),
        filters={"scope": "scope", "resource": "resource_id"},
        orderings={"name": "name", "scope": "scope", "resource": "resource__name", "position": "position"},
    )
    context.update(
        scopes=AttributeScope.choices,
        resources=Resource.objects.annotate(n=Count("attribute_definitions"))
        .filter(n__gt=0)
        .only("pk", "name")
        .order_by("name"),
    )
    return render_console(request, "console/settings/attributes.html", context)


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def attribute_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    from directory.services import config

    definition = get_object_or_404(AttributeDefinition, pk=pk) if pk else None
    form = AttributeDefinitionForm(request.POST or None, definition=definition)
    if request.method == "POST" and form.is_valid():
        try:
            if definition is None:
                definition = config.attribute_definition_create(
                    actor=request.user, source=SOURCE, **form.cleaned_data
                )
            else:
                definition = config.attribute_definition_update(
                    actor=request.user, source=SOURCE, definition=definition, data=form.service_data()
                )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"Attribute {definition.name} saved.")
            return redirect("console:attributes")
    title = f"Edit attribute {definition.name}" if definition else "New attribute"
    return render_console(
        request,
        "console/form.html",
        {"form": form, "title": title, "cancel_url": "/console/settings/attributes/", "kind": "attribute"},
    )


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def attribute_delete(request: HttpRequest, pk: int) -> HttpResponse:
    from directory.services import config

    definition = get_object_or_404(AttributeDefinition.objects.select_related("resource"), pk=pk)
    if request.method == "POST":
        purge = request.POST.get("purge") == "on"
        try:
            purged = config.attribute_definition_delete(
                actor=request.user, source=SOURCE, definition=definition, purge=purge
            )
        except DomainError as error:
            report_domain_error(request, error)
        else:
            removed = f" and {purged} value(s) removed" if purged else ""
            messages.success(request, f"Attribute {definition.name} deleted{removed}.")
            return redirect("console:attributes")
    context = {
        "definition": definition,
        "holders": attribute_holders(definition).count(),
        "holder_noun": config.HOLDER_NOUNS[AttributeScope(definition.scope)],
    }
    return render_console(request, "console/settings/attribute_delete.html", context)


# --- username policy ------------------------------------------------------------------------


def _pattern_errors(error: DomainError) -> DomainError:
    """The service names patterns ``patterns[i]``; the form has one text box, one line each."""
    fields: dict[str, list[str]] = {}
    for key, problems in (error.fields or {}).items():
        if key.startswith("patterns["):
            line = int(key[len("patterns[") : -1]) + 1
            fields.setdefault("patterns", []).extend(f"Line {line}: {p}" for p in problems)
        else:
            fields.setdefault(key, []).extend(problems)
    error.fields = fields
    return error


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def username_policy_edit(request: HttpRequest) -> HttpResponse:
    from directory.selectors import username_policy_active
    from directory.services import config

    policy = username_policy_active()
    form = UsernamePolicyForm(request.POST or None, initial=UsernamePolicyForm.initial_from(policy))
    if request.method == "POST" and form.is_valid():
        try:
            config.username_policy_update(actor=request.user, source=SOURCE, data=form.service_data())
        except DomainError as error:
            report_domain_error(request, _pattern_errors(error), form)
        else:
            messages.success(request, "Username policy saved: new users get usernames this way.")
            return redirect("console:username_policy")
    return render_console(
        request, "console/settings/username_policy.html", {"form": form, "try_form": UsernameTryForm()}
    )


def _policy_being_edited(data: Any) -> tuple[UsernamePolicy, list[str]]:
    """An unsaved policy from what the edit form holds now (the saved one where it says
    nothing), and the problems that keep it from being tried."""
    from directory.selectors import username_policy_active
    from directory.services import config

    saved = username_policy_active()
    policy = UsernamePolicy(
        name=saved.name,
        patterns=saved.patterns,
        lowercase=saved.lowercase,
        max_length=saved.max_length,
        numeric_suffix=saved.numeric_suffix,
        max_suffix=saved.max_suffix,
    )
    if "max_length" not in data:  # the edit form was not sent along: try the saved policy
        return policy, []
    form = UsernamePolicyForm(data)
    if not form.is_valid():
        return policy, [f"{form.fields[k].label or k}: {' '.join(v)}" for k, v in form.errors.items()]
    values = form.service_data()
    try:
        policy.patterns = config.username_patterns_validate(values["patterns"])
    except ValidationFailed as error:
        problems = _pattern_errors(error).fields.get("patterns") or [error.message]
        return policy, problems
    policy.lowercase = values["lowercase"]
    policy.numeric_suffix = values["numeric_suffix"]
    policy.max_length = values["max_length"]
    policy.max_suffix = min(max(values["max_suffix"], 1), PREVIEW_MAX_SUFFIX)
    return policy, []


@require_GET
@capability_required("manage_config")
def username_policy_preview(request: HttpRequest) -> HttpResponse:
    """The htmx fragment of the "try it" box: the username ``username_generate`` gives these
    names under the policy as edited, considering the usernames already taken. Saves nothing."""
    from directory.services import users

    names = UsernameTryForm(request.GET)
    names.is_valid()
    first = names.cleaned_data.get("try_first", "").strip()
    middle = names.cleaned_data.get("try_middle", "").strip()
    last = names.cleaned_data.get("try_last", "").strip()
    policy, problems = _policy_being_edited(request.GET)
    context: dict[str, Any] = {
        "problems": problems,
        "username": None,
        "error": None,
        "asked": bool(first or last),
    }
    if context["asked"] and not problems:
        try:
            context["username"] = users.username_generate(
                first_name=first, last_name=last, middle_name=middle, policy=policy
            )
        except ValidationFailed as error:
            context["error"] = error.message
    return render_console(request, "console/settings/_username_preview.html", context)

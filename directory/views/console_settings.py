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
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods

from blazon.console import (
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    capability_required,
    render_console,
    report_domain_error,
)
from blazon.errors import DomainError, ValidationFailed
from directory.models import AttributeDefinition, AttributeScope, Resource, UsernamePolicy
from directory.selectors import username_policy_active
from directory.services import config, users
from directory.views.forms import AttributeDefinitionForm, UsernamePolicyForm, UsernameTryForm

SOURCE = "console"
PREVIEW_MAX_SUFFIX = 100000  # the highest the policy accepts


# --- attribute definitions ------------------------------------------------------------------


class AttributesList(ObjectListView):
    capability, template_name = "manage_config", "console/settings/attributes.html"
    queryset = AttributeDefinition.objects.select_related("resource")
    search, filters = ("name", "label"), {"scope": "scope", "resource": "resource_id"}
    orderings = {"name": "name", "scope": "scope", "resource": "resource__name", "position": "position"}

    def extra_context(self) -> dict[str, Any]:
        resources = Resource.objects.annotate(n=Count("attribute_definitions")).filter(n__gt=0)
        return {"scopes": AttributeScope.choices, "resources": resources.only("pk", "name").order_by("name")}


class AttributeDelete(ObjectDeleteView):
    queryset, noun = AttributeDefinition.objects.select_related("resource"), "attribute"
    delete_service = staticmethod(config.attribute_definition_delete)
    object_kwarg, list_route, list_title = "definition", "console:attributes", "Attributes"

    def name_of(self, definition: AttributeDefinition) -> str:
        return definition.name

    def subtitle(self, definition: AttributeDefinition) -> str:
        on = f" on {definition.resource.name}" if definition.resource else ""
        return f"{definition.label} · {definition.get_scope_display()}{on}"

    def explain(self, definition: AttributeDefinition) -> str:
        holders = {"USER": "users", "ACCOUNT": "accounts"}.get(definition.scope, "entitlements")
        return (
            "Forms and pages stop showing this attribute and it is no longer checked (type, required, "
            f"unique, pattern). Values already stored on {holders} stay as they are."
        )


attributes_list = AttributesList.as_view()
attribute_delete = AttributeDelete.as_view()
attribute_edit = ObjectEditView.as_view(
    model=AttributeDefinition,
    form_class=AttributeDefinitionForm,
    noun="attribute",
    form_object_kwarg="definition",
    object_kwarg="definition",
    create=config.attribute_definition_create,
    update=config.attribute_definition_update,
    list_route="console:attributes",
    go_to_list=True,
)


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

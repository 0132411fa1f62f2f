"""Console settings: administrator-defined attributes (of users, or of one resource's accounts
or entitlements) and the username policy, with a "try it" box that shows the username the
policy being edited would produce, without saving anything.

Every page needs ``manage_config``; ``directory.services.config`` validates and saves, and its
field errors come back on the forms."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from blazon.console import (
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    SettingsEditView,
    capability_required,
    render_console,
)
from blazon.errors import DomainError, ValidationFailed
from directory.models import AttributeDefinition, AttributeScope, Resource, UsernamePolicy
from directory.selectors import attribute_holders, username_policy_active
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
    queryset, noun = AttributeDefinition.objects.select_related("resource"), _("attribute")
    delete_service = staticmethod(config.attribute_definition_delete)
    object_kwarg, list_route, list_title = "definition", "console:attributes", _("Attributes")

    def name_of(self, definition: AttributeDefinition) -> str:
        return definition.name

    def subtitle(self, definition: AttributeDefinition) -> str:
        scope = definition.get_scope_display()
        if definition.resource:
            return gettext("%(label)s · %(scope)s on %(resource)s") % {
                "label": definition.label,
                "scope": scope,
                "resource": definition.resource.name,
            }
        return f"{definition.label} · {scope}"

    def explain(self, definition: AttributeDefinition) -> str:
        noun = config.HOLDER_NOUNS[AttributeScope(definition.scope)]
        held = attribute_holders(definition).count()
        first = gettext(
            "Forms and pages stop showing this attribute and it is no longer checked (type, required, "
            "unique, pattern)."
        )
        if not held:
            return first + " " + gettext("No %(noun)s holds a value of this attribute.") % {"noun": noun}
        return (
            first
            + " "
            + gettext(
                "%(count)s %(noun)s(s) hold a value of this attribute. Deleting the attribute removes their "
                "values too; each removal is recorded in the audit log."
            )
            % {"count": held, "noun": noun}
        )

    def deleted_text(self, definition: AttributeDefinition, result: Any) -> str:
        if result:
            return gettext("Attribute %(name)s deleted and %(count)s value(s) removed.") % {
                "name": definition.name,
                "count": result,
            }
        return gettext("Attribute %(name)s deleted.") % {"name": definition.name}

    def confirm_option(self, definition: AttributeDefinition) -> tuple[str, str] | None:
        held = attribute_holders(definition).count()
        if not held:
            return None
        return ("purge", gettext("Remove the %(count)s value(s) and delete the attribute") % {"count": held})


attributes_list = AttributesList.as_view()
attribute_delete = AttributeDelete.as_view()
attribute_edit = ObjectEditView.as_view(
    model=AttributeDefinition,
    form_class=AttributeDefinitionForm,
    noun=_("attribute"),
    new_title=_("New attribute"),
    edit_title=_("Edit attribute {name}"),
    saved_message=_("Attribute {name} saved."),
    form_object_kwarg="instance",
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
            fields.setdefault("patterns", []).extend(
                gettext("Line %(line)s: %(problem)s") % {"line": line, "problem": p} for p in problems
            )
        else:
            fields.setdefault(key, []).extend(problems)
    error.fields = fields
    return error


class UsernamePolicyEdit(SettingsEditView):
    current, form_class = staticmethod(username_policy_active), UsernamePolicyForm
    update = staticmethod(config.username_policy_update)
    template_name, list_route = "console/settings/username_policy.html", "console:username_policy"
    saved_message = _("Username policy saved: new users get usernames this way.")

    def save(self, form: UsernamePolicyForm, policy: UsernamePolicy) -> Any:
        try:
            return super().save(form, policy)
        except DomainError as error:
            raise _pattern_errors(error) from None

    def extra_context(self, form: UsernamePolicyForm, policy: UsernamePolicy) -> dict[str, Any]:
        return {"try_form": UsernameTryForm()}


username_policy_edit = UsernamePolicyEdit.as_view()


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

"""Console forms: they check the shape of the input; the services check the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from blazon.console import ObjectForm
from directory.models import (
    AttributeScope,
    AttributeType,
    ConsoleRole,
    Criticality,
    Organization,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
    User,
    UsernamePolicy,
    UserStatus,
)


class LoginForm(AuthenticationForm):
    """Django's login form plus the directory's rule: only ACTIVE, unlocked identities log in."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "not_active_status": _(
            "Your identity is %(status)s in the directory; you cannot log in. Contact your administrator."
        ),
        "locked": _("Your login is locked. Contact your administrator or the help desk."),
    }

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if getattr(user, "status", UserStatus.ACTIVE) != UserStatus.ACTIVE:
            raise forms.ValidationError(
                self.error_messages["not_active_status"],
                code="not_active_status",
                params={"status": UserStatus(user.status).label.lower()},
            )
        if getattr(user, "login_locked", False):
            raise forms.ValidationError(self.error_messages["locked"], code="locked")


class UserChoiceField(forms.CharField):
    """A user typed as a username (a select of thousands of users helps nobody)."""

    def clean(self, value: Any) -> User | None:
        value = super().clean(value)
        if not value:
            return None
        user = User.objects.filter(username__iexact=value.strip()).first()
        if user is None:
            raise forms.ValidationError(gettext("No user with username %(username)r.") % {"username": value})
        return user

    def prepare_value(self, value: Any) -> Any:
        return value.username if isinstance(value, User) else value


class UsersChoiceField(forms.CharField):
    """Several users typed as comma-separated usernames."""

    def clean(self, value: Any) -> list[User]:
        value = super().clean(value)
        names = [n.strip() for n in (value or "").split(",") if n.strip()]
        found = {u.username.lower(): u for u in User.objects.filter(username__in=names)}
        missing = [n for n in names if n.lower() not in found]
        if missing:
            raise forms.ValidationError(
                gettext("Unknown username(s): %(usernames)s.") % {"usernames": ", ".join(missing)}
            )
        return [found[n.lower()] for n in names]

    def prepare_value(self, value: Any) -> Any:
        if hasattr(value, "values_list"):  # the users of a many-to-many field (a queryset)
            return ", ".join(value.values_list("username", flat=True))
        return value


class SharedMemberForm(forms.Form):
    user = UserChoiceField(help_text=_("Username of the member to add."), label=_("User"))


class ConsoleRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ConsoleRole.choices, required=False, label=_("Administrative role"))


class _Governed(ObjectForm):
    criticality = forms.ChoiceField(
        choices=Criticality.choices, initial=Criticality.MEDIUM, label=_("Criticality")
    )
    self_service = forms.BooleanField(
        required=False, initial=True, label=_("Self-service"), help_text=_("Listed in the workspace catalog.")
    )
    certifiable = forms.BooleanField(
        required=False,
        initial=True,
        help_text=_("Included in certification campaigns."),
        label=_("Certifiable"),
    )


class ResourceForm(_Governed):
    code = forms.SlugField(
        max_length=64, help_text=_("Short unique key, e.g. active-directory."), label=_("Code")
    )
    name = forms.CharField(max_length=200, label=_("Name"))
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label=_("Description")
    )
    owners = UsersChoiceField(required=False, help_text=_("Comma-separated usernames."), label=_("Owners"))
    field_order = ["code", "name", "description", "owners", "criticality", "self_service", "certifiable"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for event in ProvisioningEvent:
            self.fields[f"mode_{event.value}"] = forms.ChoiceField(
                label=event.label, choices=ProvisioningMode.choices, initial=ProvisioningMode.DISABLED
            )

    @property
    def mode_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("mode_")]

    @property
    def main_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith("mode_")]

    @classmethod
    def initial_from(cls, resource: Resource) -> dict[str, Any]:
        initial = super().initial_from(resource)
        for event in ProvisioningEvent:
            initial[f"mode_{event.value}"] = resource.mode_for(event.value)
        return initial

    def service_data(self) -> dict[str, Any]:
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("mode_")}
        data["provisioning_modes"] = {
            e.value: self.cleaned_data[f"mode_{e.value}"] for e in ProvisioningEvent
        }
        return data


class EntitlementForm(_Governed):
    resource = forms.ModelChoiceField(queryset=Resource.objects.order_by("name"), label=_("Resource"))
    identifier = forms.CharField(
        max_length=255, help_text=_("The entitlement's name on the resource."), label=_("Identifier")
    )
    name = forms.CharField(max_length=200, label=_("Name"))
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label=_("Description")
    )
    owner = UserChoiceField(
        required=False, help_text=_("Username of the owner (approves requests)."), label=_("Owner")
    )
    field_order = ["resource", "identifier", "name", "description", "owner"]


class RoleForm(_Governed):
    code = forms.SlugField(max_length=64, label=_("Code"))
    name = forms.CharField(max_length=200, label=_("Name"))
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label=_("Description")
    )
    owner = UserChoiceField(required=False, help_text=_("Username of the role owner."), label=_("Owner"))
    field_order = ["code", "name", "description", "owner"]


class OrganizationForm(ObjectForm):
    code = forms.SlugField(max_length=64, label=_("Code"))
    name = forms.CharField(max_length=200, label=_("Name"))
    parent = forms.ModelChoiceField(
        queryset=Organization.objects.order_by("name"), required=False, label=_("Parent")
    )
    owner = UserChoiceField(
        required=False, help_text=_("Username of the organization's owner."), label=_("Owner")
    )


class RemoveUserForm(forms.Form):
    mode = forms.ChoiceField(
        widget=forms.RadioSelect,
        choices=[
            (
                "revoke",
                _("Revoke, then remove: the applications lose the access, then the identity is removed"),
            ),
            ("without_revoke", _("Remove without revoke: only the directory changes")),
        ],
        initial="revoke",
        label=_("Mode"),
    )
    confirm = forms.BooleanField(label=_("I understand the consequences of this removal."))


class AttributeDefinitionForm(ObjectForm):
    """Scope, resource and name are fixed once the attribute exists (values are stored under the
    name); the edit form shows them disabled."""

    scope = forms.ChoiceField(choices=AttributeScope.choices, initial=AttributeScope.USER, label=_("Scope"))
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.order_by("name"),
        required=False,
        help_text=_("For account and entitlement attributes: the resource they belong to. Empty for users."),
        label=_("Resource"),
    )
    name = forms.CharField(
        max_length=64, help_text=_("Key the values are stored under, e.g. cost_center."), label=_("Name")
    )
    label = forms.CharField(max_length=200, label=_("Label"))
    type = forms.ChoiceField(choices=AttributeType.choices, initial=AttributeType.STRING, label=_("Type"))
    required = forms.BooleanField(required=False, label=_("Required"))
    unique = forms.BooleanField(
        required=False, help_text=_("No two objects may hold the same value."), label=_("Unique")
    )
    regex = forms.CharField(
        max_length=500,
        required=False,
        label=_("Pattern"),
        help_text=_("Optional regular expression values must match."),
    )
    position = forms.IntegerField(
        min_value=0, initial=0, help_text=_("Order on forms and pages."), label=_("Position")
    )

    FIXED = ("scope", "resource", "name")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.editing = self.instance is not None
        if self.editing:
            for name in self.FIXED:
                self.fields[name].disabled = True
                self.fields[name].help_text = gettext("Cannot be changed: create a new attribute instead.")

    def service_data(self) -> dict[str, Any]:
        """What the service takes: all fields to create; to update, what may change (the fixed
        fields are left out)."""
        return {k: v for k, v in self.cleaned_data.items() if not (self.editing and k in self.FIXED)}


class UsernamePolicyForm(ObjectForm):
    name = forms.CharField(max_length=100, label=_("Name"))
    patterns = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_(
            "One pattern per line, tried in order. Placeholders: {first} {last} {middle} {f} {l} "
            "{middle_initial}."
        ),
        label=_("Patterns"),
    )
    lowercase = forms.BooleanField(required=False, label=_("Lowercase"))
    max_length = forms.IntegerField(label=_("Maximum length"))
    numeric_suffix = forms.BooleanField(
        required=False,
        help_text=_("When every pattern is taken, append 2, 3, … to the first one."),
        label=_("Numeric suffix"),
    )
    max_suffix = forms.IntegerField(label=_("Highest suffix"))

    @classmethod
    def initial_from(cls, policy: UsernamePolicy) -> dict[str, Any]:
        return {**super().initial_from(policy), "patterns": "\n".join(policy.patterns or [])}

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["patterns"] = [line.strip() for line in data["patterns"].splitlines() if line.strip()]
        return data


class UsernameTryForm(forms.Form):
    """The names typed in the username policy's "try it" box."""

    try_first = forms.CharField(required=False, max_length=150, label=_("First name"))
    try_middle = forms.CharField(required=False, max_length=150, label=_("Middle name"))
    try_last = forms.CharField(required=False, max_length=150, label=_("Last name"))

"""Console form of an access group (references one per line, up to three approval levels) and the
workspace's justification form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from blazon.console import ObjectForm
from directory.models import Resource
from privileged.models import (
    AccessGroup,
    CredentialType,
    ItsmInstance,
    ItsmKind,
    LevelApprover,
    RotationPolicy,
)
from privileged.services.groups import levels_refs, relations_refs
from worklist.models import ApprovalMode

MEMBER_HELP = _("One per line: user:<username>, organization:<code> or role:<code>.")
CREDENTIAL_HELP = _(
    "One per line: <resource code>/<account identifier> (administrative, application or shared)."
)
LEVELS = 3


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").replace(",", "\n").splitlines() if line.strip()]


class AccessGroupForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=64)
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    members = forms.CharField(
        label=_("Members"), required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=MEMBER_HELP
    )
    credentials = forms.CharField(
        label=_("Credentials"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=CREDENTIAL_HELP,
    )
    justification_required = forms.BooleanField(
        label=_("Justification required"), required=False, initial=True
    )
    approval_required = forms.BooleanField(label=_("Approval required"), required=False, initial=True)
    max_window_minutes = forms.IntegerField(min_value=1, initial=240, label=_("Maximum window (minutes)"))
    governance_code_required = forms.BooleanField(label=_("Governance code required"), required=False)
    emergency_allowed = forms.BooleanField(label=_("Emergency allowed"), required=False)
    itsm = forms.ModelChoiceField(
        queryset=ItsmInstance.objects.order_by("name"),
        required=False,
        to_field_name="name",
        label=_("ITSM that checks the code"),
        help_text=_("Empty: only the code's form is checked."),
    )
    notify = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Usernames, one per line."),
        label=_("Notified people"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = [("", gettext("(no level)")), *LevelApprover.choices]
        for n in range(1, LEVELS + 1):
            self.fields[f"level{n}_kind"] = forms.ChoiceField(
                choices=kinds, required=False, label=gettext("Level %(n)s: approvers") % {"n": n}
            )
            self.fields[f"level{n}_mode"] = forms.ChoiceField(
                choices=ApprovalMode.choices,
                required=False,
                initial=ApprovalMode.ANY,
                label=gettext("Level %(n)s: who must approve") % {"n": n},
            )
            self.fields[f"level{n}_users"] = forms.CharField(
                required=False,
                label=gettext("Level %(n)s: approvers' usernames") % {"n": n},
                help_text=_("For named users, comma separated."),
            )
            self.fields[f"level{n}_queue"] = forms.CharField(
                required=False, label=gettext("Level %(n)s: queue name") % {"n": n}
            )

    @classmethod
    def initial_from(cls, group: AccessGroup) -> dict[str, Any]:
        rel = relations_refs(group)
        initial: dict[str, Any] = {
            "code": group.code,
            "name": group.name,
            "description": group.description,
            "active": group.active,
            "members": "\n".join(rel["members"]),
            "credentials": "\n".join(rel["credentials"]),
            "justification_required": group.justification_required,
            "approval_required": group.approval_required,
            "max_window_minutes": group.max_window_minutes,
            "governance_code_required": group.governance_code_required,
            "emergency_allowed": group.emergency_allowed,
            "itsm": group.itsm.name if group.itsm else None,
            "notify": "\n".join(rel["notify"]),
        }
        for level in levels_refs(group)[:LEVELS]:
            n = level["position"]
            initial[f"level{n}_kind"] = level["approver_kind"]
            initial[f"level{n}_mode"] = level["mode"]
            initial[f"level{n}_users"] = ", ".join(level["users"])
            initial[f"level{n}_queue"] = level["queue"] or ""
        return initial

    def service_data(self) -> dict[str, Any]:
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("level")}
        data["members"] = _lines(data["members"])
        data["credentials"] = _lines(data["credentials"])
        data["notify"] = _lines(data["notify"])
        levels = []
        for n in range(1, LEVELS + 1):
            kind = self.cleaned_data.get(f"level{n}_kind")
            if not kind:
                continue
            levels.append(
                {
                    "approver_kind": kind,
                    "mode": self.cleaned_data.get(f"level{n}_mode") or ApprovalMode.ANY,
                    "users": _lines(self.cleaned_data.get(f"level{n}_users") or ""),
                    "queue": (self.cleaned_data.get(f"level{n}_queue") or "").strip(),
                }
            )
        data["levels"] = levels
        return data


class AccessRequestForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}), label=_("Justification")
    )
    window_start = forms.DateTimeField(
        required=False, label=_("From"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    window_end = forms.DateTimeField(
        required=False, label=_("Until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    governance_code = forms.CharField(
        required=False, max_length=200, label=_("Governance code (ITSM ticket)")
    )
    emergency = forms.BooleanField(
        required=False, label=_("Emergency: use it now without waiting for approval")
    )
    emergency_confirmed = forms.BooleanField(
        required=False, label=_("I confirm this is an emergency; every approver is told at once")
    )


class ApproveForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    window_start = forms.DateTimeField(
        label=_("Window start"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    window_end = forms.DateTimeField(
        label=_("Window end"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class RotationPolicyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    resource = forms.ModelChoiceField(
        label=_("Resource"),
        queryset=Resource.objects.order_by("name"),
        required=False,
        to_field_name="code",
        help_text=_("Empty: every resource."),
    )
    account_type = forms.ChoiceField(label=_("Account type"), choices=CredentialType.choices)
    every_days = forms.IntegerField(
        label=_("Every days"),
        required=False,
        min_value=1,
        max_value=3650,
        help_text=_("Empty: never by age."),
    )
    after_checkout = forms.BooleanField(required=False, label=_("After each check-out"))
    on_member_leave = forms.BooleanField(required=False, label=_("When a shared account's member leaves"))

    @classmethod
    def initial_from(cls, policy: RotationPolicy) -> dict[str, Any]:
        return {
            "name": policy.name,
            "active": policy.active,
            "resource": policy.resource.code if policy.resource else None,
            "account_type": policy.account_type,
            "every_days": policy.every_days,
            "after_checkout": policy.after_checkout,
            "on_member_leave": policy.on_member_leave,
        }


class ItsmInstanceForm(ObjectForm):
    """An ITSM instance. The password or tokens are write-only: left empty on an edit, the vault
    keeps the one it has; they are never put back on the page."""

    name = forms.CharField(max_length=200, label=_("Name"))
    kind = forms.ChoiceField(choices=ItsmKind.choices, label=_("Kind"))
    base_url = forms.CharField(
        max_length=500,
        required=False,
        label=_("Base URL"),
        help_text=_(
            "ServiceNow: https://acme.service-now.com; Jira: https://acme.atlassian.net; "
            "GLPI: https://glpi.acme.com/apirest.php."
        ),
    )
    url_template = forms.CharField(
        max_length=500,
        required=False,
        label=_("URL template"),
        help_text=_("Generic REST: the ticket's URL with {code}, e.g. https://itsm/api/tickets/{code}."),
    )
    status_pointer = forms.CharField(
        max_length=200,
        required=False,
        label=_("Status pointer"),
        help_text=_("Generic REST: JSON pointer to the status, e.g. /data/status."),
    )
    username = forms.CharField(
        max_length=200,
        required=False,
        label=_("Username"),
        help_text=_("ServiceNow: the API user; Jira: the account's e-mail."),
    )
    secret_value = forms.CharField(
        max_length=4000,
        required=False,
        label=_("Password or token"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "ServiceNow: the password; Jira: an API token; GLPI: the user token; REST: a bearer "
            "token. Kept in the vault; leave empty to keep the current one."
        ),
    )
    app_secret_value = forms.CharField(
        max_length=4000,
        required=False,
        label=_("Application token"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("GLPI: the API client's App-Token. Kept in the vault; leave empty to keep it."),
    )
    valid_states = forms.CharField(
        max_length=2000,
        label=_("Valid states"),
        help_text=_(
            "The states that make a ticket valid, comma-separated: ServiceNow 1, 2, 3 (-1 for a "
            "change being implemented); Jira's status categories new, indeterminate; GLPI 1, 2, 3, 4."
        ),
    )
    timeout_seconds = forms.IntegerField(min_value=1, max_value=60, initial=5, label=_("Timeout (seconds)"))

    @classmethod
    def initial_from(cls, obj: ItsmInstance) -> dict[str, Any]:
        initial = super().initial_from(obj)
        initial.update(secret_value="", app_secret_value="", valid_states=", ".join(obj.valid_states))
        return initial

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["valid_states"] = _lines(data["valid_states"])
        return data

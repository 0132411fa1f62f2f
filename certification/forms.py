"""Console forms of certification: a policy, a campaign started from a selection."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certification.models import CertificationPolicy, ObjectKind, PolicyTrigger, ReviewerKind, UndecidedAction
from certification.services.policies import monitorable
from directory.models import (
    Account,
    Criticality,
    Entitlement,
    EntitlementMembership,
    Organization,
    Resource,
    Role,
    RoleMembership,
    User,
)
from worklist.models import Queue

_ACTIVE_USERS = User.objects.filter(status="ACTIVE").order_by("username")


class CertificationPolicyForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=64)
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    include_accounts = forms.BooleanField(required=False, initial=True, label=_("Certify accounts"))
    include_entitlements = forms.BooleanField(
        required=False, initial=True, label=_("Certify entitlement memberships")
    )
    include_roles = forms.BooleanField(required=False, initial=True, label=_("Certify role memberships"))
    criticalities = forms.MultipleChoiceField(
        label=_("Criticalities"),
        choices=Criticality.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only accesses of these criticalities (none ticked: any)."),
    )
    resource = forms.ModelChoiceField(
        label=_("Resource"), queryset=Resource.objects.order_by("name"), required=False
    )
    entitlement = forms.ModelChoiceField(
        label=_("Entitlement"),
        queryset=Entitlement.objects.select_related("resource").order_by("resource__name", "name"),
        required=False,
    )
    role = forms.ModelChoiceField(label=_("Role"), queryset=Role.objects.order_by("name"), required=False)
    organization = forms.ModelChoiceField(
        label=_("Organization"), queryset=Organization.objects.order_by("name"), required=False
    )
    reviewer_kind = forms.ChoiceField(
        choices=ReviewerKind.choices, initial=ReviewerKind.MANAGER, label=_("Reviewer")
    )
    reviewer_user = forms.ModelChoiceField(
        queryset=_ACTIVE_USERS, required=False, to_field_name="username", label=_("Named reviewer")
    )
    reviewer_queue = forms.ModelChoiceField(
        queryset=Queue.objects.order_by("name"), required=False, label=_("Reviewing queue")
    )
    fallback_reviewer = forms.ModelChoiceField(
        label=_("Fallback reviewer"),
        queryset=_ACTIVE_USERS,
        required=False,
        to_field_name="username",
        help_text=_("Reviews when the reviewer is missing, has left or is the beneficiary."),
    )
    trigger = forms.ChoiceField(
        choices=PolicyTrigger.choices, initial=PolicyTrigger.PERIODIC, required=False, label=_("Runs")
    )
    monitored_attributes = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Watched attributes"),
        help_text=_(
            "When the policy runs on a change: a change of any of these puts the user's accesses to review."
        ),
    )
    period_days = forms.IntegerField(min_value=1, initial=180, label=_("Every (days)"))
    duration_days = forms.IntegerField(min_value=1, initial=30, label=_("Reviewers have (days)"))
    undecided_action = forms.ChoiceField(
        choices=UndecidedAction.choices, initial=UndecidedAction.KEEP, label=_("Items not decided by the end")
    )

    def clean_trigger(self) -> str:
        return self.cleaned_data.get("trigger") or PolicyTrigger.PERIODIC

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["monitored_attributes"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = list(monitorable().items())

    @classmethod
    def initial_from(cls, policy: CertificationPolicy) -> dict[str, Any]:
        return {
            **{
                name: getattr(policy, name)
                for name in (
                    "code",
                    "name",
                    "description",
                    "active",
                    "include_accounts",
                    "include_entitlements",
                    "include_roles",
                    "criticalities",
                    "resource",
                    "entitlement",
                    "role",
                    "organization",
                    "reviewer_kind",
                    "reviewer_queue",
                    "trigger",
                    "monitored_attributes",
                    "period_days",
                    "duration_days",
                    "undecided_action",
                )
            },
            "reviewer_user": policy.reviewer_user.username if policy.reviewer_user else None,
            "fallback_reviewer": policy.fallback_reviewer.username if policy.fallback_reviewer else None,
        }


class CampaignForm(forms.Form):
    """A campaign from a selection given by hand (not a policy)."""

    name = forms.CharField(label=_("Name"), max_length=200)
    kinds = forms.MultipleChoiceField(
        label=_("Kinds"),
        choices=ObjectKind.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=ObjectKind.values,
    )
    criticalities = forms.MultipleChoiceField(
        label=_("Criticalities"),
        choices=Criticality.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    resource = forms.ModelChoiceField(
        label=_("Resource"), queryset=Resource.objects.order_by("name"), required=False
    )
    role = forms.ModelChoiceField(label=_("Role"), queryset=Role.objects.order_by("name"), required=False)
    organization = forms.ModelChoiceField(
        label=_("Organization"), queryset=Organization.objects.order_by("name"), required=False
    )
    reviewer_kind = forms.ChoiceField(
        choices=ReviewerKind.choices, initial=ReviewerKind.MANAGER, label=_("Reviewer")
    )
    reviewer_user = forms.ModelChoiceField(
        label=_("Reviewer user"), queryset=_ACTIVE_USERS, required=False, to_field_name="username"
    )
    reviewer_queue = forms.ModelChoiceField(
        label=_("Reviewer queue"), queryset=Queue.objects.order_by("name"), required=False
    )
    fallback_reviewer = forms.ModelChoiceField(
        label=_("Fallback reviewer"), queryset=_ACTIVE_USERS, required=False, to_field_name="username"
    )
    ends_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label=_("Ends")
    )
    undecided_action = forms.ChoiceField(
        choices=UndecidedAction.choices, initial=UndecidedAction.KEEP, label=_("Items not decided by the end")
    )

    def scope(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "kinds": d["kinds"],
            "criticalities": d["criticalities"],
            **{
                k: (d[k].pk if d[k] is not None else None)
                for k in (
                    "resource",
                    "role",
                    "organization",
                    "reviewer_user",
                    "reviewer_queue",
                    "fallback_reviewer",
                )
            },
            "reviewer_kind": d["reviewer_kind"],
        }


class MicroCertificationForm(forms.Form):
    """One access put to review: the person and what they hold."""

    kind = forms.ChoiceField(choices=ObjectKind.choices, label=_("What"))
    person = forms.ModelChoiceField(
        label=_("Person"), queryset=User.objects.order_by("username"), to_field_name="username"
    )
    resource = forms.ModelChoiceField(
        label=_("Resource"),
        queryset=Resource.objects.order_by("name"),
        required=False,
        help_text=_("For an account."),
    )
    entitlement = forms.ModelChoiceField(
        label=_("Entitlement"),
        queryset=Entitlement.objects.select_related("resource").order_by("resource__name", "name"),
        required=False,
        help_text=_("For an entitlement membership."),
    )
    role = forms.ModelChoiceField(
        label=_("Role"), queryset=Role.objects.order_by("name"), required=False, help_text=_("For a role.")
    )
    reviewer = forms.ModelChoiceField(
        label=_("Reviewer"),
        queryset=_ACTIVE_USERS,
        required=False,
        to_field_name="username",
        help_text=_("Empty: the person's manager."),
    )
    ends_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label=_("Ends")
    )
    undecided_action = forms.ChoiceField(
        choices=UndecidedAction.choices, initial=UndecidedAction.REVOKE, label=_("If nobody decides by then")
    )

    def access_id(self) -> int | None:
        """The id of the access the form names (None, with a field error, when it names none)."""
        d = self.cleaned_data
        person, kind = d["person"], d["kind"]
        found: Any = None
        if kind == ObjectKind.ACCOUNT:
            if d["resource"] is None:
                self.add_error("resource", gettext("Choose the resource of the account."))
                return None
            found = Account.objects.filter(owner=person, resource=d["resource"]).order_by("id").first()
        elif kind == ObjectKind.ENTITLEMENT:
            if d["entitlement"] is None:
                self.add_error("entitlement", gettext("Choose the entitlement."))
                return None
            found = EntitlementMembership.objects.filter(
                account__owner=person, entitlement=d["entitlement"]
            ).first()
        else:
            if d["role"] is None:
                self.add_error("role", gettext("Choose the role."))
                return None
            found = RoleMembership.objects.filter(user=person, role=d["role"]).first()
        if found is None:
            self.add_error("person", gettext("%(user)s does not hold it.") % {"user": person.username})
            return None
        return int(found.pk)

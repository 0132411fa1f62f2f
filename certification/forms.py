"""Console forms of certification: a policy, a campaign started from a selection."""

from __future__ import annotations

from typing import Any

from django import forms

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
    code = forms.SlugField(max_length=64)
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    active = forms.BooleanField(required=False, initial=True)
    include_accounts = forms.BooleanField(required=False, initial=True, label="Certify accounts")
    include_entitlements = forms.BooleanField(
        required=False, initial=True, label="Certify entitlement memberships"
    )
    include_roles = forms.BooleanField(required=False, initial=True, label="Certify role memberships")
    criticalities = forms.MultipleChoiceField(
        choices=Criticality.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only accesses of these criticalities (none ticked: any).",
    )
    resource = forms.ModelChoiceField(queryset=Resource.objects.order_by("name"), required=False)
    entitlement = forms.ModelChoiceField(
        queryset=Entitlement.objects.select_related("resource").order_by("resource__name", "name"),
        required=False,
    )
    role = forms.ModelChoiceField(queryset=Role.objects.order_by("name"), required=False)
    organization = forms.ModelChoiceField(queryset=Organization.objects.order_by("name"), required=False)
    reviewer_kind = forms.ChoiceField(
        choices=ReviewerKind.choices, initial=ReviewerKind.MANAGER, label="Reviewer"
    )
    reviewer_user = forms.ModelChoiceField(
        queryset=_ACTIVE_USERS, required=False, to_field_name="username", label="Named reviewer"
    )
    reviewer_queue = forms.ModelChoiceField(
        queryset=Queue.objects.order_by("name"), required=False, label="Reviewing queue"
    )
    fallback_reviewer = forms.ModelChoiceField(
        queryset=_ACTIVE_USERS,
        required=False,
        to_field_name="username",
        help_text="Reviews when the reviewer is missing, has left or is the beneficiary.",
    )
    trigger = forms.ChoiceField(
        choices=PolicyTrigger.choices, initial=PolicyTrigger.PERIODIC, required=False, label="Runs"
    )
    monitored_attributes = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Watched attributes",
        help_text="When the policy runs on a change: a change of any of these puts the user's accesses to review.",
    )
    period_days = forms.IntegerField(min_value=1, initial=180, label="Every (days)")
    duration_days = forms.IntegerField(min_value=1, initial=30, label="Reviewers have (days)")
    undecided_action = forms.ChoiceField(
        choices=UndecidedAction.choices, initial=UndecidedAction.KEEP, label="Items not decided by the end"
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

    name = forms.CharField(max_length=200)
    kinds = forms.MultipleChoiceField(
        choices=ObjectKind.choices, widget=forms.CheckboxSelectMultiple, initial=ObjectKind.values
    )
    criticalities = forms.MultipleChoiceField(
        choices=Criticality.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    resource = forms.ModelChoiceField(queryset=Resource.objects.order_by("name"), required=False)
    role = forms.ModelChoiceField(queryset=Role.objects.order_by("name"), required=False)
    organization = forms.ModelChoiceField(queryset=Organization.objects.order_by("name"), required=False)
    reviewer_kind = forms.ChoiceField(
        choices=ReviewerKind.choices, initial=ReviewerKind.MANAGER, label="Reviewer"
    )
    reviewer_user = forms.ModelChoiceField(queryset=_ACTIVE_USERS, required=False, to_field_name="username")
    reviewer_queue = forms.ModelChoiceField(queryset=Queue.objects.order_by("name"), required=False)
    fallback_reviewer = forms.ModelChoiceField(
        queryset=_ACTIVE_USERS, required=False, to_field_name="username"
    )
    ends_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Ends")
    undecided_action = forms.ChoiceField(
        choices=UndecidedAction.choices, initial=UndecidedAction.KEEP, label="Items not decided by the end"
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

    kind = forms.ChoiceField(choices=ObjectKind.choices, label="What")
    person = forms.ModelChoiceField(queryset=User.objects.order_by("username"), to_field_name="username")
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.order_by("name"), required=False, help_text="For an account."
    )
    entitlement = forms.ModelChoiceField(
        queryset=Entitlement.objects.select_related("resource").order_by("resource__name", "name"),
        required=False,
        help_text="For an entitlement membership.",
    )
    role = forms.ModelChoiceField(
        queryset=Role.objects.order_by("name"), required=False, help_text="For a role."
    )
    reviewer = forms.ModelChoiceField(
        queryset=_ACTIVE_USERS,
        required=False,
        to_field_name="username",
        help_text="Empty: the person's manager.",
    )
    ends_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Ends")
    undecided_action = forms.ChoiceField(
        choices=UndecidedAction.choices, initial=UndecidedAction.REVOKE, label="If nobody decides by then"
    )

    def access_id(self) -> int | None:
        """The id of the access the form names (None, with a field error, when it names none)."""
        d = self.cleaned_data
        person, kind = d["person"], d["kind"]
        found: Any = None
        if kind == ObjectKind.ACCOUNT:
            if d["resource"] is None:
                self.add_error("resource", "Choose the resource of the account.")
                return None
            found = Account.objects.filter(owner=person, resource=d["resource"]).order_by("id").first()
        elif kind == ObjectKind.ENTITLEMENT:
            if d["entitlement"] is None:
                self.add_error("entitlement", "Choose the entitlement.")
                return None
            found = EntitlementMembership.objects.filter(
                account__owner=person, entitlement=d["entitlement"]
            ).first()
        else:
            if d["role"] is None:
                self.add_error("role", "Choose the role.")
                return None
            found = RoleMembership.objects.filter(user=person, role=d["role"]).first()
        if found is None:
            self.add_error("person", f"{person.username} does not hold it.")
            return None
        return int(found.pk)

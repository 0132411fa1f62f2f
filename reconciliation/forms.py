"""Console form of a reconciliation profile: the settings as JSON, the association rules and the
attribute mappings one per line, the action of each situation of the profile's kind."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from directory.models import Resource
from reconciliation.expressions import template_fields
from reconciliation.models import (
    SITUATION_ACTIONS,
    Action,
    MappingMode,
    Operator,
    ProfileKind,
    ReconciliationProfile,
    RuleTarget,
    Situation,
    SourceType,
)
from reconciliation.services.profiles import BUILT_KINDS, profile_parts


def _rules_help() -> str:
    return gettext(
        "One rule per line, in order: <attribute> <operator> <value>, e.g. "
        "attributes.employee_id EQUALS {[employee_id]}. Operators: %(operators)s. "
        "Accounts: prefix a rule on the owner with 'owner:' (owner: username IEQUALS {[login]})."
    ) % {"operators": ", ".join(f"{o.value} ({o.label})" for o in Operator)}


RULES_HELP = lazy(_rules_help, str)()
MAPPINGS_HELP = _(
    "One mapping per line: <target> = <value> (fixed text, {[field]} or mixed, e.g. {[first]}.{[last]}), "
    "or <target> := <expression> (computed, e.g. lower(ascii(first_name)) + '.' + lower(last_name))."
)


def _rule_line(rule: dict[str, Any]) -> str:
    prefix = "owner: " if rule["target"] == RuleTarget.OWNER else ""
    return f"{prefix}{rule['attribute']} {rule['operator']} {rule['value']}"


def _mapping_line(mapping: dict[str, Any]) -> str:
    sign = ":=" if mapping["mode"] == MappingMode.EXPRESSION else "="
    return f"{mapping['target']} {sign} {mapping['value']}"


def _json(value: str, name: str) -> dict[str, Any]:
    if not (value or "").strip():
        return {}
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise forms.ValidationError(gettext("Not valid JSON: %(error)s.") % {"error": exc}) from None
    if not isinstance(data, dict):
        raise forms.ValidationError(gettext('A JSON object, e.g. {"file": "hr.csv"}.'))
    return data


class ProfileForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=64)
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=[(k, ProfileKind(k).label) for k in BUILT_KINDS])
    resource = forms.ModelChoiceField(
        label=_("Resource"),
        queryset=Resource.objects.order_by("name"),
        required=False,
        to_field_name="code",
        help_text=_("The application an accounts profile reads (empty for users)."),
    )
    source_type = forms.ChoiceField(label=_("Source type"), choices=SourceType.choices)
    source_settings = forms.CharField(
        label=_("Source settings"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_('The connector\'s settings as JSON, e.g. {"file": "hr.csv"} for a CSV export.'),
    )
    secret_settings = forms.CharField(
        label=_("Secret settings"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text=_(
            'Secret settings as JSON ({"dsn": "…"}, {"password": "…"}): kept in the vault, never '
            "shown again. Leave empty to keep what is stored."
        ),
    )
    key_field = forms.CharField(
        label=_("Key field"),
        max_length=100,
        initial="identifier",
        help_text=_("The source field naming a row."),
    )
    rules = forms.CharField(label=_("Rules"), widget=forms.Textarea(attrs={"rows": 3}), help_text=RULES_HELP)
    mappings = forms.CharField(
        label=_("Mappings"), widget=forms.Textarea(attrs={"rows": 5}), required=False, help_text=MAPPINGS_HELP
    )
    safety_share = forms.DecimalField(label=_("Safety share"), 
        min_value=0, max_value=100, decimal_places=2, initial=5,
        help_text=_("Stop for confirmation when a run would inactivate or revoke more than this share (%)."),
    )  # fmt: skip
    max_row_errors = forms.IntegerField(
        label=_("Max row errors"),
        min_value=0,
        initial=100,
        help_text=_("Fail the run above this many bad rows."),
    )
    schedule = forms.CharField(
        label=_("Schedule"),
        required=False,
        max_length=100,
        help_text=_("Cron: minute hour day month weekday (e.g. 0 2 * * *)."),
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    incremental = forms.BooleanField(
        label=_("Incremental"),
        required=False,
        help_text=_("Apply only the source rows that changed since the last applied run."),
    )

    def __init__(
        self, data: Any = None, *, profile: ReconciliationProfile | None = None, **kwargs: Any
    ) -> None:
        if profile is not None:
            kwargs.setdefault("initial", self.initial_from(profile))
        super().__init__(data, **kwargs)
        self.profile = profile
        self.situation_names: list[str] = []
        if profile is not None:  # a new profile starts with the cautious defaults
            self.fields["kind"].disabled = True
            current = {a.situation: a.action for a in profile.actions.all()}
            for situation, allowed in SITUATION_ACTIONS.get(profile.kind, {}).items():
                name = f"action_{situation}"
                self.situation_names.append(name)
                self.fields[name] = forms.ChoiceField(
                    label=gettext("When: %(situation)s") % {"situation": Situation(situation).label},
                    choices=[(a, Action(a).label) for a in allowed],
                    initial=current.get(situation),
                )

    @classmethod
    def initial_from(cls, profile: ReconciliationProfile) -> dict[str, Any]:
        parts = profile_parts(profile)
        return {
            "code": profile.code,
            "name": profile.name,
            "description": profile.description,
            "kind": profile.kind,
            "resource": profile.resource.code if profile.resource else None,
            "source_type": profile.source_type,
            "source_settings": json.dumps(profile.source_settings, indent=1),
            "key_field": profile.key_field,
            "rules": "\n".join(_rule_line(r) for r in parts["rules"]),
            "mappings": "\n".join(_mapping_line(m) for m in parts["mappings"]),
            "safety_share": profile.safety_share,
            "max_row_errors": profile.max_row_errors,
            "schedule": profile.schedule,
            "active": profile.active,
            "incremental": profile.incremental,
        }

    def clean_source_settings(self) -> dict[str, Any]:
        return _json(self.cleaned_data.get("source_settings", ""), "source_settings")

    def clean_secret_settings(self) -> dict[str, Any] | None:
        data = _json(self.cleaned_data.get("secret_settings", ""), "secret_settings")
        return data or None

    def clean_rules(self) -> list[dict[str, Any]]:
        out = []
        for number, line in enumerate((self.cleaned_data.get("rules") or "").splitlines(), start=1):
            text = line.strip()
            if not text:
                continue
            target = RuleTarget.OBJECT
            if text.lower().startswith("owner:"):
                target, text = RuleTarget.OWNER, text[len("owner:") :].strip()
            parts = text.split(None, 2)
            if len(parts) != 3:
                raise forms.ValidationError(
                    gettext("Line %(number)s: <attribute> <operator> <value>.") % {"number": number}
                )
            out.append(
                {"target": target, "attribute": parts[0], "operator": parts[1].upper(), "value": parts[2]}
            )
        return out

    def clean_mappings(self) -> list[dict[str, Any]]:
        out = []
        for number, line in enumerate((self.cleaned_data.get("mappings") or "").splitlines(), start=1):
            if not line.strip():
                continue
            if ":=" in line:
                target, __, value = line.partition(":=")
                mode = MappingMode.EXPRESSION
            elif "=" in line:
                target, __, value = line.partition("=")
                value = value.strip()
                fields = template_fields(value)
                if not fields:
                    mode = MappingMode.STATIC
                elif value == "{[" + fields[0] + "]}" and len(fields) == 1:
                    mode = MappingMode.FIELD
                else:
                    mode = MappingMode.MIXED
            else:
                raise forms.ValidationError(
                    gettext("Line %(number)s: <target> = <value> or <target> := <expression>.")
                    % {"number": number}
                )
            out.append({"target": target.strip(), "mode": mode, "value": value.strip()})
        return out

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data.get("secret_settings") is None:
            data.pop("secret_settings", None)
        actions = {name[len("action_") :]: data.pop(name) for name in self.situation_names}
        if actions:
            data["actions"] = actions
        if self.profile is not None:
            data.pop("kind", None)
        return data


class ExpressionTestForm(forms.Form):
    expression = forms.CharField(
        label=_("Expression"), widget=forms.Textarea(attrs={"rows": 2}), max_length=1000
    )
    sample = forms.CharField(
        label=_("Sample"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("A sample of the source as CSV: the header line, then one row."),
    )

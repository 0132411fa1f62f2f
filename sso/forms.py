"""Console forms for service providers: shape only; ``sso.services`` validates and saves."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from blazon.console import ObjectForm
from directory.models import Resource, Role
from sso.models import (
    BINDING_POST,
    BINDING_REDIRECT,
    AccessRule,
    AttributeNameFormat,
    NameIDFormat,
    ServiceProvider,
)


class ServiceProviderForm(ObjectForm):
    name = forms.CharField(max_length=200, label=_("Name"))
    entity_id = forms.CharField(
        max_length=1024, label=_("Entity id"), help_text=_("The SP's SAML entity id (issuer).")
    )
    enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label=_("Description")
    )
    acs_urls = forms.CharField(
        label=_("Assertion consumer service URLs"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One URL per line (HTTP-POST binding); the first is the default."),
    )
    slo_url = forms.CharField(max_length=1024, required=False, label=_("Single logout URL"))
    slo_binding = forms.ChoiceField(
        choices=[(BINDING_REDIRECT, "HTTP-Redirect"), (BINDING_POST, "HTTP-POST")],
        label=_("Single logout binding"),
    )
    slo_timeout_seconds = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=300,
        initial=0,
        label=_("Single logout time limit (seconds)"),
        help_text=_(
            "0: the browser goes to the SP and Blazon waits for its answer. More: the SP is logged out "
            "in a frame of Blazon's page and single logout goes on without its answer after that many seconds "
            "(the SP must allow being framed by Blazon)."
        ),
    )
    certificate = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label=_("SP certificate (PEM)"),
        help_text=_("Verifies the SP's signed AuthnRequests and LogoutRequests."),
    )
    require_signed_requests = forms.BooleanField(required=False, label=_("Require signed requests"))
    nameid_format = forms.ChoiceField(choices=NameIDFormat.choices, label=_("NameID format"))
    attribute_mapping = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label=_("Attribute mapping"),
        help_text=_(
            "One per line: SAML attribute name = user field (email, first_name, last_name, display_name, "
            "username, department, job_title, employee_type, organization) or attributes.<custom attribute>."
        ),
    )
    attribute_name_format = forms.ChoiceField(
        choices=AttributeNameFormat.choices,
        initial=AttributeNameFormat.AUTO,
        required=False,  # empty: the default (URI for URI names)
        label=_("Attribute name format"),
        help_text=_(
            "The NameFormat of the attributes sent. SPs (Shibboleth, pysaml2) map urn:oid:… names "
            "only with the URI format; the first choice sends it for those."
        ),
    )
    access_rule = forms.ChoiceField(choices=AccessRule.choices, label=_("Who may use it"))
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.order_by("name"), required=False, label=_("Resource")
    )
    role = forms.ModelChoiceField(queryset=Role.objects.order_by("name"), required=False, label=_("Role"))
    launch_url = forms.CharField(
        max_length=1024,
        required=False,
        label=_("Launch RelayState"),
        help_text=_("Sent on a launch from My applications."),
    )

    def clean_attribute_mapping(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data.get("attribute_mapping", "").splitlines(), start=1):
            if not line.strip():
                continue
            if "=" not in line:
                raise forms.ValidationError(
                    gettext("Line %(n)s: write 'attribute name = user field'.") % {"n": number}
                )
            name, source = (part.strip() for part in line.split("=", 1))
            if name in mapping:
                raise forms.ValidationError(
                    gettext("Line %(n)s: %(name)s is mapped twice.") % {"n": number, "name": name}
                )
            mapping[name] = source
        return mapping

    def clean_acs_urls(self) -> list[dict[str, Any]]:
        urls = [line.strip() for line in self.cleaned_data.get("acs_urls", "").splitlines() if line.strip()]
        return [{"url": url, "binding": BINDING_POST, "index": i} for i, url in enumerate(urls)]

    @classmethod
    def initial_from(cls, sp: ServiceProvider) -> dict[str, Any]:
        mapping = "\n".join(f"{k} = {v}" for k, v in (sp.attribute_mapping or {}).items())
        acs_urls = "\n".join(a["url"] for a in sp.acs_endpoints)
        return {**super().initial_from(sp), "acs_urls": acs_urls, "attribute_mapping": mapping}

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["acs_endpoints"] = data.pop("acs_urls")
        return data


class MetadataImportForm(forms.Form):
    name = forms.CharField(
        max_length=200, label=_("Name"), help_text=_("How users and administrators see this application.")
    )
    metadata = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        required=False,
        label=_("SP metadata XML"),
        help_text=_("Paste the metadata, or upload the file below."),
    )
    metadata_file = forms.FileField(required=False, label=_("Metadata file"))
    access_rule = forms.ChoiceField(choices=AccessRule.choices, label=_("Who may use it"))
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.order_by("name"), required=False, label=_("Resource")
    )
    role = forms.ModelChoiceField(queryset=Role.objects.order_by("name"), required=False, label=_("Role"))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        upload = data.get("metadata_file")
        if upload is not None:
            if upload.size > 512 * 1024:
                raise forms.ValidationError(gettext("The metadata file is too large (512 KiB at most)."))
            data["metadata"] = upload.read().decode("utf-8", errors="replace")
        if not (data.get("metadata") or "").strip():
            raise forms.ValidationError(gettext("Paste the SP's metadata XML or upload the file."))
        return data

"""Console form of an OIDC client: it checks the input's shape; ``oidc.services`` the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from directory.models import Role
from oidc.models import ClientAccess
from oidc.services import available_scopes


class OIDCClientForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("Name"))
    confidential = forms.TypedChoiceField(
        label=_("Client type"),
        choices=[
            ("1", _("Confidential (a server that keeps a secret)")),
            ("0", _("Public (browser or mobile app: PKCE only)")),
        ],
        coerce=lambda v: v == "1",
        initial="1",
        help_text=_("Cannot change later. Every client must use PKCE (S256)."),
    )
    redirect_uris = forms.CharField(
        label=_("Redirect URIs"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line; https only; matched exactly."),
    )
    post_logout_redirect_uris = forms.CharField(
        label=_("Post-logout redirect URIs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Where RP-initiated logout may send users back to; one per line."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("'openid' is always allowed."),
    )
    access = forms.ChoiceField(label=_("Who may sign in"), choices=ClientAccess.choices)
    roles = forms.ModelMultipleChoiceField(
        label=_("Roles"),
        queryset=Role.objects.order_by("name"),
        required=False,
        help_text=_("When only members of roles may sign in."),
    )
    trusted = forms.BooleanField(
        label=_("Trusted first-party application (skip the consent screen)"), required=False
    )
    active = forms.BooleanField(required=False, initial=True, label=_("Active"))

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        scopes = self.fields["scopes"]
        assert isinstance(scopes, forms.ChoiceField)  # declared above
        scopes.choices = [(s, s) for s in available_scopes() if s != "openid"]
        if editing:
            del self.fields["confidential"]
        else:
            del self.fields["active"]

"""Console pages of the OIDC provider (``/console/sso/oidc/``): relying parties (OIDC clients)
and the ID-token signing keys. Reading needs ``view``; every change ``manage_config``.

A new or rotated client secret is shown in the response to the POST that made it, once, with
``Cache-Control: no-store`` (``never_cache``); it is never put in the session, a message or a log."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from blazon.console import ObjectDeleteView, ObjectEditView, capability_required, render_console
from blazon.errors import DomainError
from oidc import keys, services
from oidc.forms import OIDCClientForm
from oidc.models import OIDCClient, SigningKey, SigningKeyState
from oidc.selectors import oidc_clients

SOURCE = "console"


def _secret_page(request: HttpRequest, client: OIDCClient, secret: str | None) -> HttpResponse:
    # the views that call this are never_cache: no-store keeps the secret out of any cache
    return render_console(request, "oidc/client_secret.html", {"client": client, "secret": secret})


@capability_required("view")
def client_list(request: HttpRequest) -> HttpResponse:
    context = {
        "clients": oidc_clients(),
        "keys": SigningKey.objects.exclude(state=SigningKeyState.RETIRED).only(
            "kid", "state", "created_at", "rotated_at"
        ),
    }
    return render_console(request, "oidc/clients.html", context)


@capability_required("view")
def client_detail(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_object_or_404(oidc_clients(), pk=pk)
    return render_console(request, "oidc/client_detail.html", {"client": client})


def _service_kwargs(form: OIDCClientForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "redirect_uris": data["redirect_uris"],
        "post_logout_redirect_uris": data.get("post_logout_redirect_uris", ""),
        "scopes": data["scopes"],
        "access": data["access"],
        "roles": list(data["roles"]),
        "trusted": data["trusted"],
    }


class ClientEdit(ObjectEditView):
    """A new client's page answers with its secret, once (the create URL is never_cache)."""

    queryset, form_class, noun, kind = (
        oidc_clients(),
        OIDCClientForm,
        gettext_lazy("OIDC client"),
        "oidc-client",
    )
    detail_route, list_route, invalid_status = "console_oidc:detail", "console_oidc:list", 400

    def get_form(self, client: OIDCClient | None) -> OIDCClientForm:
        if client is None:
            return OIDCClientForm(self.request.POST or None)
        app = client.application
        initial = {
            "name": client.name,
            "redirect_uris": "\n".join(app.redirect_uris.split()),
            "post_logout_redirect_uris": "\n".join(app.post_logout_redirect_uris.split()),
            "scopes": [s for s in client.allowed_scopes if s != "openid"],
            "access": client.access,
            "roles": list(client.roles.all()),
            "trusted": app.skip_authorization,
            "active": client.active,
        }
        return OIDCClientForm(self.request.POST or None, initial=initial, editing=True)

    def save(self, form: OIDCClientForm, client: OIDCClient | None) -> OIDCClient:
        actor, data = self.request.user, form.cleaned_data
        if client is None:
            client, self.secret = services.oidc_client_create(
                actor=actor, source=SOURCE, confidential=data["confidential"], **_service_kwargs(form)
            )
            return client
        self.secret = None
        return services.oidc_client_update(
            actor=actor, source=SOURCE, client=client, active=data["active"], **_service_kwargs(form)
        )

    def saved(self, client: OIDCClient, form: OIDCClientForm) -> HttpResponse:
        if self.kwargs.get("pk") is None:
            return _secret_page(self.request, client, self.secret)
        return super().saved(client, form)


client_create = never_cache(ClientEdit.as_view())
client_edit = ClientEdit.as_view()


@never_cache
@require_POST
@capability_required("manage_config")
def client_rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_object_or_404(oidc_clients(), pk=pk)
    try:
        secret = services.oidc_client_rotate_secret(actor=request.user, source=SOURCE, client=client)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("console_oidc:detail", pk=client.pk)
    return _secret_page(request, client, secret)


client_delete = ObjectDeleteView.as_view(
    queryset=oidc_clients(),
    noun=gettext_lazy("OIDC client"),
    confirm=False,
    object_kwarg="client",
    delete_service=services.oidc_client_delete,
    deleted_message=gettext_lazy("{Noun} {name} deleted; its tokens no longer work."),
    list_route="console_oidc:list",
)


@require_POST
@capability_required("manage_config")
def key_rotate(request: HttpRequest) -> HttpResponse:
    key = keys.signing_key_rotate(actor=request.user, source=SOURCE)
    messages.success(
        request,
        gettext("New signing key %(kid)s is active; the previous one stays published for a while.")
        % {"kid": key.kid},
    )
    return redirect("console_oidc:list")

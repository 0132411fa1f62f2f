"""Console pages of the OIDC provider (``/console/sso/oidc/``): relying parties (OIDC clients)
and the ID-token signing keys. Reading needs ``view``; every change ``manage_config``.

A new or rotated client secret is shown in the response to the POST that made it, once, with
``Cache-Control: no-store`` (``never_cache``); it is never put in the session, a message or a log."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from blazon.errors import DomainError
from directory.views.common import capability_required, report_domain_error
from directory.views.console import render_console
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


@never_cache
@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def client_create(request: HttpRequest) -> HttpResponse:
    form = OIDCClientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            client, secret = services.oidc_client_create(
                actor=request.user,
                source=SOURCE,
                confidential=form.cleaned_data["confidential"],
                **_service_kwargs(form),
            )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            return _secret_page(request, client, secret)
    context = {
        "form": form,
        "title": "New OIDC client",
        "kind": "oidc-client",
        "cancel_url": "/console/sso/oidc/",
    }
    return render_console(request, "console/form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def client_edit(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_object_or_404(oidc_clients(), pk=pk)
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
    form = OIDCClientForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.oidc_client_update(
                actor=request.user,
                source=SOURCE,
                client=client,
                active=form.cleaned_data["active"],
                **_service_kwargs(form),
            )
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(request, f"OIDC client {form.cleaned_data['name']} saved.")
            return redirect("console_oidc:detail", pk=client.pk)
    context = {
        "form": form,
        "title": f"Edit OIDC client {client.name}",
        "kind": "oidc-client",
        "cancel_url": f"/console/sso/oidc/{client.pk}/",
    }
    return render_console(request, "console/form.html", context, status=400 if form.errors else 200)


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


@require_POST
@capability_required("manage_config")
def client_delete(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_object_or_404(oidc_clients(), pk=pk)
    services.oidc_client_delete(actor=request.user, source=SOURCE, client=client)
    messages.success(request, f"OIDC client {client.name} deleted; its tokens no longer work.")
    return redirect("console_oidc:list")


@require_POST
@capability_required("manage_config")
def key_rotate(request: HttpRequest) -> HttpResponse:
    key = keys.signing_key_rotate(actor=request.user, source=SOURCE)
    messages.success(
        request, f"New signing key {key.kid} is active; the previous one stays published for a while."
    )
    return redirect("console_oidc:list")

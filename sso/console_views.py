"""Console pages for the SAML IdP: service providers (list, detail, create, edit, delete, import
from metadata) and the IdP's own metadata and keys. Reading needs ``view``; changing needs
``manage_config``."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from blazon.console import (
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    capability_required,
    render_console,
    report_domain_error,
)
from blazon.errors import DomainError
from sso import idp, services
from sso.forms import MetadataImportForm, ServiceProviderForm
from sso.keys import idp_key_ensure
from sso.models import IdPKey, KeyStatus, ServiceProvider

SOURCE = "console"


sp_list = ObjectListView.as_view(
    queryset=ServiceProvider.objects.select_related("resource", "role"),
    template_name="sso/console/list.html",
    search=("name", "entity_id"),
    orderings={"name": "name", "entity_id": "entity_id"},
    default_order="name",
)


@require_GET
@capability_required("view")
def sp_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sp = get_object_or_404(ServiceProvider.objects.select_related("resource", "role"), pk=pk)
    return render_console(request, "sso/console/detail.html", {"sp": sp})


class ServiceProviderEdit(ObjectEditView):
    model, form_class, noun, kind = (
        ServiceProvider,
        ServiceProviderForm,
        "service provider",
        "service-provider",
    )
    detail_route, list_route = "console_sso:sp_detail", "console_sso:sp_list"
    new_title, invalid_status = cast(str, gettext_lazy("New SAML service provider")), 400

    def save(self, form: ServiceProviderForm, sp: ServiceProvider | None) -> ServiceProvider:
        actor, data = self.request.user, form.service_data()
        if sp is None:
            return services.service_provider_create(actor=actor, source=SOURCE, data=data)
        return services.service_provider_update(actor=actor, source=SOURCE, sp=sp, data=data)


sp_edit = ServiceProviderEdit.as_view()


@require_http_methods(["GET", "POST"])
@capability_required("manage_config")
def sp_import(request: HttpRequest) -> HttpResponse:
    form = MetadataImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            parsed = services.parse_sp_metadata(form.cleaned_data["metadata"])
            data = {
                **parsed,
                "name": form.cleaned_data["name"],
                "enabled": True,
                "access_rule": form.cleaned_data["access_rule"],
                "resource": form.cleaned_data.get("resource"),
                "role": form.cleaned_data.get("role"),
                "attribute_mapping": {},
            }
            sp = services.service_provider_create(actor=request.user, source=SOURCE, data=data)
        except DomainError as error:
            report_domain_error(request, error, form)
        else:
            messages.success(
                request, gettext("Service provider %(name)s imported from its metadata.") % {"name": sp.name}
            )
            return redirect("console_sso:sp_detail", pk=sp.pk)
    status = 400 if request.method == "POST" else 200
    return render_console(request, "sso/console/import.html", {"form": form}, status=status)


sp_delete = ObjectDeleteView.as_view(
    model=ServiceProvider,
    noun=gettext_lazy("service provider"),
    confirm=False,
    object_kwarg="sp",
    delete_service=services.service_provider_delete,
    list_route="console_sso:sp_list",
)


@require_GET
@capability_required("view")
def idp_info(request: HttpRequest) -> HttpResponse:
    idp_key_ensure(actor=request.user, source=SOURCE)
    keys = IdPKey.objects.filter(status__in=[KeyStatus.ACTIVE, KeyStatus.NEXT]).order_by("status")
    return render_console(
        request,
        "sso/console/idp.html",
        {"keys": keys, "entity_id": idp.idp_entity_id(request), "base": idp.base_url(request)},
    )


@require_GET
@capability_required("view")
def idp_metadata_download(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(idp.metadata_xml(request), content_type="application/samlmetadata+xml")
    response["Content-Disposition"] = 'attachment; filename="blazon-idp-metadata.xml"'
    return response

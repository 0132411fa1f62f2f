"""Console pages of SIEM forwarding (Settings -> SIEM forwarding): the destinations with their
backlog and last error (any console role), edit, delete and "send a test message"
(administrators)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from blazon.console.views import ObjectActionView, ObjectDeleteView, ObjectEditView, ObjectListView
from siem import selectors
from siem.forms import SiemDestinationForm
from siem.models import SiemDestination, Transport
from siem.services import (
    siem_destination_create,
    siem_destination_delete,
    siem_destination_test,
    siem_destination_update,
)


class DestinationList(ObjectListView):
    queryset = selectors.destinations_for(None)
    template_name = "console/siem/destinations.html"
    search = ("name", "host", "url")
    filters = {"transport": "transport", "enabled": "enabled"}
    orderings = {"name": "name", "backlog": "backlog", "success": "last_success_at"}
    default_order = "name"
    paginate_by = 0
    csv_name = "siem-destinations"
    csv_columns = (
        ("name", "name"),
        ("transport", "transport"),
        ("format", "format"),
        ("cursor", "cursor"),
        ("backlog", "backlog"),
        ("last success", "last_success_at"),
        ("last error", "last_error"),
    )

    def extra_context(self) -> dict[str, Any]:
        return {"transports": Transport.choices}


destination_edit = ObjectEditView.as_view(
    model=SiemDestination,
    form_class=SiemDestinationForm,
    form_object_kwarg="instance",
    noun="SIEM destination",
    new_title=gettext_lazy("New SIEM destination"),
    edit_title=gettext_lazy("Edit SIEM destination {name}"),
    saved_message=gettext_lazy("SIEM destination {name} saved."),
    kind="siem-destination",
    create=siem_destination_create,
    update=siem_destination_update,
    object_kwarg="destination",
    list_route="console_siem:destinations",
    go_to_list=True,
    invalid_status=400,
)


class DestinationDelete(ObjectDeleteView):
    model, noun = SiemDestination, cast(str, gettext_lazy("SIEM destination"))
    delete_service = staticmethod(siem_destination_delete)
    object_kwarg = "destination"
    list_route = "console_siem:destinations"
    list_title = cast(str, gettext_lazy("SIEM forwarding"))
    deleted_message = cast(str, gettext_lazy("SIEM destination {name} deleted."))

    def explain(self, obj: SiemDestination) -> str:
        return _(
            "Events are no longer forwarded to it and its secrets leave the vault. The audit log "
            "itself is untouched; a destination added again starts from the events written then."
        )


class DestinationTest(ObjectActionView):
    model = SiemDestination
    noun = "SIEM destination"
    action = staticmethod(siem_destination_test)
    object_kwarg = "destination"
    list_route = "console_siem:destinations"

    def done_text(self, obj: Any, result: Any) -> str:
        accepted, error = result
        if accepted:
            return _("%(name)s accepted the test message.") % {"name": obj.name}
        self.done_level = messages.ERROR
        return _("%(name)s did not accept the test message: %(error)s") % {"name": obj.name, "error": error}


destination_test = DestinationTest.as_view()

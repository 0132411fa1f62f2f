"""The console kernel: access checks, ``render_console``, list pages (search, filters, sort,
paging, CSV export), and the declared edit and delete screens every app's console pages are
built from. It sits in the ``blazon`` layer so any app can use it without importing another
app. How to add a screen: docs/dev/console.md."""

from blazon.console.access import (
    capability_check,
    capability_required,
    caps,
    render_console,
    report_domain_error,
    workspace_required,
)
from blazon.console.forms import ObjectForm
from blazon.console.lists import PAGE_SIZE, csv_response, csv_safe, list_filter, list_page, paginate
from blazon.console.views import (
    ConsoleView,
    ObjectActionView,
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    ObjectView,
    SettingsEditView,
    by_segment,
    what_else_goes,
)

__all__ = [
    "PAGE_SIZE",
    "ConsoleView",
    "ObjectActionView",
    "ObjectDeleteView",
    "ObjectEditView",
    "ObjectForm",
    "ObjectListView",
    "ObjectView",
    "SettingsEditView",
    "by_segment",
    "capability_check",
    "capability_required",
    "caps",
    "csv_response",
    "csv_safe",
    "list_filter",
    "list_page",
    "paginate",
    "render_console",
    "report_domain_error",
    "what_else_goes",
    "workspace_required",
]

"""Console pages of provisioning (``/console/provisioning/``): the queue of entries with their
detail, retry and cancel; adapter health; a resource's retry policy and connection check.

Reading needs ``view``; retry, cancel and editing need ``manage_config`` (the services check it
too). Refusals are messages; nothing is changed on bad input."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from blazon.console import (
    ObjectActionView,
    ObjectEditView,
    ObjectListView,
    by_segment,
    capability_required,
    render_console,
)
from blazon.ids import parse_id
from directory.models import ProvisioningEvent, ProvisioningMode, Resource
from provisioning import selectors
from provisioning.forms import InProcessAdapterForm, RetryPolicyForm
from provisioning.models import (
    EntryStatus,
    InProcessAdapter,
    ProvisioningEntry,
    ResourceRetryPolicy,
)
from provisioning.services.console import entry_cancel, entry_retry, resource_retry_policy_set
from provisioning.services.inprocess import SECRET_SETTINGS, inprocess_adapter_configure
from provisioning.services.manual import entry_resolve_done, entry_resolve_failed
from worklist.models import TaskStatus

SOURCE = "console"


class Queue(ObjectListView):
    """The entries; ``q`` finds an entry (``#42``), a request's entries (``request 7``,
    ``request-7``, ``r7``), a correlation id, or a user or account (username, name or account
    identifier, in part); ``stuck`` keeps the entries nobody has moved for a while."""

    template_name = "console/provisioning/queue.html"
    filters = {"status": "status", "resource": "resource_id", "event": "event_type", "mode": "mode"}
    orderings = {"id": "pk", "created": "created_at", "status": "status", "attempts": "attempts"}

    def get_queryset(self) -> Any:
        qs, q = selectors.queue_entries(), self.request.GET.get("q", "").strip()
        if self.request.GET.get("stuck", "") in {"1", "true", "yes"}:
            qs = qs.filter(selectors.stuck_q())
        if q:
            qs = qs.filter(queue_search_q(q))
        return qs

    def extra_context(self) -> dict[str, Any]:
        return {
            "stuck": self.request.GET.get("stuck", "") in {"1", "true", "yes"},
            "statuses": EntryStatus.choices,
            "events": ProvisioningEvent.choices,
            "modes": ProvisioningMode.choices,
            "resources": Resource.objects.only("pk", "name").order_by("name"),
            "stuck_minutes": settings.BLAZON_PROVISIONING_STUCK_MINUTES,
        }

    def render(self, context: dict[str, Any], status: int = 200) -> HttpResponse:
        for entry in context["object_list"]:
            entry.request_id = selectors.request_id_of(entry)
        return super().render(context, status)


queue = Queue.as_view()


REQUEST_REF = re.compile(r"(?i)^(?:request[\s#-]*|req[\s#-]*|r)(\d+)$")


def queue_search_q(q: str) -> Q:
    """What the queue's search box matches (every branch uses an indexed column or a short
    ``icontains`` on the account's owner and identifier)."""
    if q.startswith("#") and (entry_id := parse_id(q[1:])) is not None:
        return Q(pk=entry_id)
    if (found := REQUEST_REF.match(q)) and (request_id := parse_id(found.group(1))) is not None:
        return Q(request_id=request_id) | Q(rollback_of_id=request_id)
    if (entry_id := parse_id(q)) is not None:
        return Q(pk=entry_id) | Q(request_id=entry_id)
    return (
        Q(correlation_id=q)
        | Q(account__identifier__icontains=q)
        | Q(account__owner__username__icontains=q)
        | Q(account__owner__first_name__icontains=q)
        | Q(account__owner__last_name__icontains=q)
    )


@capability_required("view")
def entry_detail(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(selectors.queue_entries().select_related("account__owner"), pk=pk)
    context: dict[str, Any] = {
        "entry": entry,
        "request_id": selectors.request_id_of(entry),
        "payload": sorted(selectors.masked(entry.payload).items()),
        "result": sorted(selectors.masked(entry.result).items()),
        "leased": entry.status == EntryStatus.PULLED
        and entry.lease_until
        and entry.lease_until >= timezone.now(),
        "can_retry": entry.status in (EntryStatus.FAILED, EntryStatus.WAITING_FAILOVER_RESOLVING),
        "can_cancel": entry.status in (EntryStatus.PENDING, EntryStatus.FAILED, EntryStatus.PULLED),
        "can_resolve": entry.manual_task is not None and entry.manual_task.status == TaskStatus.OPEN,
    }
    return render_console(request, "console/provisioning/entry.html", context)


class EntryAction(ObjectActionView):
    """A button of an entry's page: retry or cancel it, or resolve its manual task by hand (the
    task of a resource without owners is unassigned: it is an administrator's)."""

    model, object_kwarg, detail_route = ProvisioningEntry, "entry", "console_provisioning:entry"

    def name_of(self, entry: ProvisioningEntry) -> str:
        return f"#{entry.pk}"


def _by_id(service: Callable[..., Any]) -> Callable[..., Any]:
    """A service that takes the entry's id (as the API gives it) rather than the entry."""
    return lambda *, entry, **kwargs: service(entry_id=entry.pk, **kwargs)


entry_action = by_segment(
    "action",
    retry=EntryAction.as_view(
        action=_by_id(entry_retry),
        done_message=_("Entry {name} is pending again: the adapter will pick it up."),
    ),
    cancel=EntryAction.as_view(
        action=_by_id(entry_cancel), post_fields=("reason",), done_message=_("Entry {name} canceled.")
    ),
)
entry_resolve = by_segment(
    "outcome",
    done=EntryAction.as_view(
        action=entry_resolve_done,
        post_fields=("native_identifier", "comment"),
        done_message=_("Entry {name} recorded as made by hand."),
    ),
    failed=EntryAction.as_view(
        action=entry_resolve_failed,
        post_fields=("reason",),
        done_message=_("Entry {name} recorded as not possible; its request is rolled back."),
    ),
)


@capability_required("view")
def health(request: HttpRequest) -> HttpResponse:
    context = {
        "rows": selectors.adapter_health(),
        "stuck_minutes": settings.BLAZON_PROVISIONING_STUCK_MINUTES,
    }
    return render_console(request, "console/provisioning/health.html", context)


def _provisioning_tab(resource: Resource) -> str:
    return f"/console/resources/{resource.pk}/?tab=provisioning"


class RetryPolicyEdit(ObjectEditView):
    model, form_class, noun = Resource, RetryPolicyForm, _("retry policy")
    template_name, edit_title, saved_message = (
        "console/provisioning/retry_policy.html",
        _("Retry policy of {name}"),
        _("Retry policy of {name} saved."),
    )

    def get_form(self, resource: Resource) -> RetryPolicyForm:
        policy = ResourceRetryPolicy.objects.filter(resource=resource).first()
        return RetryPolicyForm(self.request.POST or None, policy=policy)

    def save(self, form: RetryPolicyForm, resource: Resource) -> Resource:
        resource_retry_policy_set(
            actor=self.request.user, source=SOURCE, resource=resource, **form.cleaned_data
        )
        return resource

    def detail_url(self, resource: Resource) -> str:
        return _provisioning_tab(resource)


retry_policy_edit = RetryPolicyEdit.as_view()


@require_POST
@capability_required("view")
def test_connection(request: HttpRequest, pk: int) -> HttpResponse:
    """Blazon never connects to the application: the check is whether an active adapter of the
    resource polled recently, and when the adapter last reported a success for it."""
    resource = get_object_or_404(Resource, pk=pk)
    summary = selectors.resource_provisioning(resource)
    success = " " + (
        gettext("Last change it made on %(resource)s: %(when)s.")
        % {"resource": resource.name, "when": f"{summary.last_success_at:%Y-%m-%d %H:%M}"}
        if summary.last_success_at
        else gettext("It has not reported a change on %(resource)s yet.") % {"resource": resource.name}
    )
    polled = f"{summary.last_poll_at:%Y-%m-%d %H:%M:%S}" if summary.last_poll_at else ""
    if not summary.clients:
        messages.error(
            request,
            gettext("No adapter client serves %(resource)s: its AUTOMATIC entries wait.")
            % {"resource": resource.name},
        )
    elif summary.connected:
        messages.success(
            request,
            gettext("An adapter of %(resource)s polled at %(when)s.")
            % {"resource": resource.name, "when": polled}
            + success,
        )
    elif summary.last_poll_at is None:
        messages.error(
            request,
            gettext("No active adapter of %(resource)s has polled yet.") % {"resource": resource.name},
        )
    else:
        messages.error(
            request,
            gettext(
                "The adapters of %(resource)s last polled at %(when)s, more than 5 minutes ago: check the adapter process."
            )
            % {"resource": resource.name, "when": polled}
            + success,
        )
    return redirect(_provisioning_tab(resource))


class InProcessAdapterEdit(ObjectEditView):
    """The in-process adapter of a resource: connector type, settings, secret settings (kept in
    the vault and never shown back: an empty field keeps what is stored)."""

    model, form_class, noun = Resource, InProcessAdapterForm, _("in-process adapter")
    template_name, saved_message = (
        "console/provisioning/inprocess_adapter.html",
        _("In-process adapter of {name} saved."),
    )

    def get_form(self, resource: Resource) -> InProcessAdapterForm:
        self.adapter = InProcessAdapter.objects.filter(resource=resource).select_related("client").first()
        return InProcessAdapterForm(self.request.POST or None, resource=resource, adapter=self.adapter)

    def is_valid(self, form: InProcessAdapterForm) -> bool:
        if not form.is_valid():
            messages.error(self.request, gettext("The in-process adapter is not valid."))
        return form.is_valid()

    def save(self, form: InProcessAdapterForm, resource: Resource) -> Resource:
        data = form.service_data()
        inprocess_adapter_configure(actor=self.request.user, source=SOURCE, resource=resource, **data)
        return resource

    def detail_url(self, resource: Resource) -> str:
        return _provisioning_tab(resource)

    def extra_context(self, form: InProcessAdapterForm, resource: Resource) -> dict[str, Any]:
        secrets = [
            (t, name, form[f"secret_{name}"]) for t, names in SECRET_SETTINGS.items() for name in names
        ]
        embedded = settings.CELERY_TASK_ALWAYS_EAGER  # bin/run starts the runner with the web process
        return {"resource": resource, "adapter": self.adapter, "secrets": secrets, "embedded": embedded}


inprocess_adapter_edit = InProcessAdapterEdit.as_view()

"""Follow-up events of the life cycle (owner change, administrator change, shared-account
member review, rotation alerts): the list of what is waiting, and one event's page where it is
resolved. Reading needs ``view``; resolving the capability the event needs (``manage_config``
for configuration objects' owners, ``manage_users`` otherwise), checked again by the service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from blazon.console import capability_required, list_page, render_console, report_domain_error
from blazon.errors import DomainError
from blazon.permissions import can
from directory.models import (
    DirectoryEvent,
    DirectoryEventDecision,
    DirectoryEventKind,
    DirectoryEventStatus,
    Source,
    User,
)
from directory.services.lifecycle import DECISIONS, directory_event_capability, directory_event_resolve

#: Where the console shows an event's object.
OBJECT_PAGES = {
    "directory.Resource": "console:resource_detail",
    "directory.Entitlement": "console:entitlement_detail",
    "directory.Role": "console:role_detail",
    "directory.Organization": "console:organization_detail",
    "directory.Account": "console:account_detail",
}


class ResolveForm(forms.Form):
    decision = forms.ChoiceField(widget=forms.RadioSelect, label=_("Decision"))
    new_user = forms.CharField(
        required=False,
        max_length=150,
        label=_("New owner / responsible (username)"),
        help_text=_("For a new owner: an ACTIVE user other than the one who left."),
    )
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label=_("Note")
    )

    def __init__(self, *args: Any, event: DirectoryEvent, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(DirectoryEventDecision.choices)
        self.fields["decision"].choices = [(d, labels[d]) for d in DECISIONS.get(event.kind, ())]
        if DirectoryEventDecision.REASSIGN not in DECISIONS.get(event.kind, ()):
            del self.fields["new_user"]

    def clean_new_user(self) -> User | None:
        username = self.cleaned_data.get("new_user", "").strip()
        if not username:
            return None
        user = User.objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(gettext("No user %(username)r.") % {"username": username})
        return user


@capability_required("view")
def events_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", DirectoryEventStatus.OPEN)
    queryset = DirectoryEvent.objects.select_related("user", "resolved_by", "new_user")
    if status in DirectoryEventStatus.values:
        queryset = queryset.filter(status=status)
    context = list_page(
        request,
        queryset,
        search=("user_repr", "object_repr", "user__username"),
        filters={"kind": "kind"},
        orderings={"created": "created_at", "kind": "kind"},
        default_order="-created",
    )
    context.update(
        {
            "status": status,
            "statuses": DirectoryEventStatus.choices,
            "kinds": DirectoryEventKind.choices,
        }
    )
    return render_console(request, "console/events/list.html", context)


@require_http_methods(["GET", "POST"])
@capability_required("view")
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(DirectoryEvent.objects.select_related("user", "resolved_by", "new_user"), pk=pk)
    may_resolve = event.status == DirectoryEventStatus.OPEN and can(
        request.user, directory_event_capability(event)
    )
    form = (
        ResolveForm(request.POST if request.method == "POST" else None, event=event) if may_resolve else None
    )
    status = 200
    if request.method == "POST":
        if form is None:
            messages.error(request, gettext("This event cannot be resolved by you, or is already closed."))
            status = 409 if event.status != DirectoryEventStatus.OPEN else 403
        elif form.is_valid():
            try:
                directory_event_resolve(
                    actor=request.user,  # type: ignore[arg-type]  # capability_required: logged in
                    source=Source.CONSOLE,
                    event=event,
                    decision=form.cleaned_data["decision"],
                    new_user=form.cleaned_data.get("new_user"),
                    note=form.cleaned_data["note"],
                )
            except DomainError as error:
                report_domain_error(request, error, form)
            else:
                messages.success(request, gettext("Event #%(id)s resolved.") % {"id": event.pk})
                return redirect("console:events")
    context = {"event": event, "form": form, "object_page": OBJECT_PAGES.get(event.object_type)}
    return render_console(request, "console/events/detail.html", context, status=status)

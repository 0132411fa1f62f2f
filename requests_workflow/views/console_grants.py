"""The console's directory changes for a chosen user (issue 13 item 1): create a user, grant a
role, an entitlement or a new account, revoke a role or an entitlement, add people to a role.

Every change is a request with source ``console`` (seed 002, "Requisições"), so the validation
and approval policies apply and the change shows up as a request with its stages; the page then
shows that request. What cannot be requested is refused by the request service with its own
message, shown on the form; nothing is written then.

The object fields search as you type (``lookup``: a ``<datalist>`` filled by app.js); without
scripts they take a name, a code or ``#id``. Only people who may operate identities
(``manage_users``: administrators and the help desk) reach these pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from blazon.console import capability_required, render_console
from blazon.errors import DomainError
from directory.models import (
    AttributeDefinition,
    AttributeScope,
    Entitlement,
    EntitlementMembership,
    Management,
    Organization,
    Resource,
    Role,
    RoleMembership,
    Source,
    User,
    UserStatus,
)
from requests_workflow.models import Request, RequestType
from requests_workflow.services.requests import request_create
from requests_workflow.views.common import access_day, request_outcome
from requests_workflow.views.console_actions import ActionForm

LOOKUP_LIMIT = 20
_ID_RE = re.compile(r"#(\d{1,12})\s*$")


# --- search as you type -------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """One kind of object the console's pickers find: how to search it and how to name it."""

    queryset: Any  # () -> QuerySet
    fields: tuple[str, ...]
    label: Any  # (obj) -> str


def _user_label(u: User) -> str:
    name = u.get_full_name()
    return f"{u.username} ({name}) #{u.pk}" if name else f"{u.username} #{u.pk}"


LOOKUPS: dict[str, Lookup] = {
    "user": Lookup(
        lambda: User.objects.exclude(status=UserStatus.REMOVED).order_by("username"),
        ("username", "first_name", "last_name", "email"),
        _user_label,
    ),
    "role": Lookup(lambda: Role.objects.order_by("name"), ("name", "code"), lambda r: f"{r.name} #{r.pk}"),
    "entitlement": Lookup(
        lambda: Entitlement.objects.select_related("resource").order_by("resource__name", "name"),
        ("name", "identifier", "resource__name"),
        lambda e: f"{e.name} ({e.resource.name}) #{e.pk}",
    ),
    "resource": Lookup(
        lambda: Resource.objects.order_by("name"), ("name", "code"), lambda r: f"{r.name} #{r.pk}"
    ),
}


def _matching(kind: str, text: str) -> QuerySet[Any]:
    spec = LOOKUPS[kind]
    query = Q()
    for field in spec.fields:
        query |= Q(**{f"{field}__icontains": text})
    return spec.queryset().filter(query) if text else spec.queryset()


@capability_required("manage_users")
@require_GET
def lookup(request: HttpRequest, kind: str) -> JsonResponse:
    """Up to 20 objects of ``kind`` whose name, code or e-mail contains ``q``; each ``value`` is
    what the picker's field takes back (it ends in ``#id``)."""
    if kind not in LOOKUPS:
        raise Http404("Unknown kind")
    text = request.GET.get("q", "").strip()[:100]
    found = _matching(kind, text)[:LOOKUP_LIMIT]
    return JsonResponse({"results": [{"value": LOOKUPS[kind].label(obj)} for obj in found]})


#: What a picker's messages call the objects it finds.
PICK_NOUNS = {
    "user": _("person"),
    "role": _("role"),
    "entitlement": _("entitlement"),
    "resource": _("resource"),
}


def resolve_pick(kind: str, text: str) -> Any:
    """The object a picker's text names: ``… #id`` (what the list offers), else one object whose
    name, code or username is exactly the text. Raises ``forms.ValidationError`` otherwise."""
    text = (text or "").strip()
    what = PICK_NOUNS[kind]
    if not text:
        raise forms.ValidationError(gettext("Choose a %(what)s.") % {"what": what})
    spec = LOOKUPS[kind]
    found = _ID_RE.search(text)
    if found:
        obj = spec.queryset().filter(pk=int(found.group(1))).first()
        if obj is None:
            raise forms.ValidationError(
                gettext("No %(what)s #%(id)s.") % {"what": what, "id": found.group(1)}
            )
        return obj
    exact = Q()
    for field in spec.fields:
        if "__" not in field:
            exact |= Q(**{f"{field}__iexact": text})
    candidates = list(spec.queryset().filter(exact)[:2])
    if not candidates:
        raise forms.ValidationError(
            gettext("No %(what)s is called %(text)r: pick one from the list.") % {"what": what, "text": text}
        )
    if len(candidates) > 1:
        raise forms.ValidationError(
            gettext("Several match %(text)r: pick one from the list.") % {"text": text}
        )
    return candidates[0]


class PickField(forms.CharField):
    """A text field that searches ``kind`` as you type and cleans to the object chosen."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        kwargs.setdefault("max_length", 300)
        super().__init__(**kwargs)
        self.widget.attrs.update({"data-lookup": kind, "autocomplete": "off", "list": f"lookup-{kind}"})

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        if not text and not self.required:
            return None
        return resolve_pick(self.kind, text)


# --- forms ------------------------------------------------------------------------------------


class _Justified(ActionForm):
    """A justification (the life-cycle buttons' form) and, in the subclasses, what is asked for."""


class UserNewForm(_Justified):
    username = forms.CharField(
        required=False,
        max_length=150,
        help_text=_("Leave empty to let the username policy choose it."),
        label=_("Username"),
    )
    first_name = forms.CharField(max_length=150, label=_("First name"))
    middle_name = forms.CharField(required=False, max_length=150, label=_("Middle name"))
    last_name = forms.CharField(max_length=150, label=_("Last name"))
    display_name = forms.CharField(required=False, max_length=200, label=_("Display name"))
    email = forms.EmailField(required=False, label=_("E-mail"))
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(), required=False, label=_("Organization")
    )
    manager = PickField("user", required=False, label=_("Manager"))
    job_title = forms.CharField(required=False, max_length=200, label=_("Job title"))
    department = forms.CharField(required=False, max_length=200, label=_("Department"))
    employee_type = forms.CharField(required=False, max_length=100, label=_("Employee type"))
    start_date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("Start date")
    )
    end_date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("End date")
    )

    field_order = ["username", "first_name", "middle_name", "last_name", "display_name", "email",
                   "organization", "manager", "job_title", "department", "employee_type",
                   "start_date", "end_date"]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.order_by("name")  # type: ignore[attr-defined]
        self.definitions = list(
            AttributeDefinition.objects.filter(scope=AttributeScope.USER, resource__isnull=True).order_by(
                "position", "name"
            )
        )
        for d in self.definitions:
            self.fields[f"attr_{d.name}"] = forms.CharField(
                label=d.label, required=d.required, max_length=1000, help_text=d.get_type_display()
            )
        # the justification goes last, after the attributes
        self.order_fields([*self.field_order, *(f"attr_{d.name}" for d in self.definitions), "justification"])

    def payload(self) -> dict[str, Any]:
        data = self.cleaned_data
        user: dict[str, Any] = {}
        for name in ("username", "first_name", "middle_name", "last_name", "display_name", "email",
                     "job_title", "department", "employee_type"):  # fmt: skip
            if data.get(name):
                user[name] = data[name]
        if data.get("organization"):
            user["organization"] = data["organization"].pk
        if data.get("manager"):
            user["manager"] = data["manager"].pk
        for name in ("start_date", "end_date"):
            if data.get(name):
                user[name] = data[name].isoformat()
        attributes = {d.name: data[f"attr_{d.name}"] for d in self.definitions if data.get(f"attr_{d.name}")}
        if attributes:
            user["attributes"] = attributes
        return {"user": user}


class GrantForm(_Justified):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("From"))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("Until"))

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        label = {
            "role": _("Role"),
            "entitlement": _("Entitlement"),
            "resource": _("Resource (a new account)"),
        }[kind]
        self.fields["target"] = PickField(kind, label=label)
        self.order_fields(["target", "start", "end", "justification"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", gettext("The end date must be on or after the start date."))
        return data


class MembersAddForm(_Justified):
    people = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=20000,
        help_text=_("Usernames, one per line or separated by commas (at most 200)."),
        label=_("People"),
    )

    def clean_people(self) -> list[User]:
        names = [n.strip() for n in re.split(r"[\s,;]+", self.cleaned_data["people"]) if n.strip()]
        names = list(dict.fromkeys(names))
        if not names:
            raise forms.ValidationError(gettext("Name at least one person."))
        if len(names) > 200:
            raise forms.ValidationError(gettext("At most 200 people at a time."))
        query = Q()
        for name in names:
            query |= Q(username__iexact=name)
        found = {u.username.lower(): u for u in User.objects.filter(query)}
        missing = [n for n in names if n.lower() not in found]
        if missing:
            raise forms.ValidationError(
                gettext("Unknown username(s): %(usernames)s.") % {"usernames": ", ".join(missing)}
            )
        return [found[n.lower()] for n in names]


# --- helpers ----------------------------------------------------------------------------------


def _show_errors(request: HttpRequest, error: DomainError, form: forms.Form, prefix: str = "") -> None:
    """The request service's refusal on the form: on the field it names when the form has one."""
    for field, problems in (error.fields or {}).items():
        name = field.removeprefix(prefix).removeprefix("payload.user.")
        target = name if name in form.fields else None
        for problem in problems:
            form.add_error(target, problem)
    if not error.fields:
        form.add_error(None, error.message)
    messages.error(request, error.message)


def _done(request: HttpRequest, req: Request, what: str) -> HttpResponse:
    req.refresh_from_db()  # in-process mode ran it on commit; with Celery it is still on its way
    messages.success(
        request,
        gettext("%(what)s: request #%(id)s, %(outcome)s.")
        % {"what": what, "id": req.pk, "outcome": request_outcome(req)},
    )
    return redirect("console_requests:detail", pk=req.pk)


def _actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  # capability_required: logged in


# --- pages ------------------------------------------------------------------------------------


@capability_required("manage_users")
@require_http_methods(["GET", "POST"])
def user_new(request: HttpRequest) -> HttpResponse:
    """New user: a CREATE_USER request with the fields the API takes (and the administrator's
    attribute definitions); the username policy fills an empty username."""
    form = UserNewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            req = request_create(
                actor=_actor(request),
                source=Source.CONSOLE,
                request_type=RequestType.CREATE_USER,
                payload=form.payload(),
                justification=form.cleaned_data["justification"],
            )
        except DomainError as error:
            _show_errors(request, error, form)
        else:
            name = f"{form.cleaned_data['first_name']} {form.cleaned_data['last_name']}"
            return _done(request, req, gettext("New user %(name)s") % {"name": name})
    status = 400 if form.is_bound and form.errors else 200
    return render_console(request, "console/requests/user_new.html", {"form": form}, status=status)


GRANTS = {
    "role": (RequestType.GRANT_ROLE, _("Grant a role")),
    "entitlement": (RequestType.GRANT_ENTITLEMENT, _("Grant an entitlement")),
    "resource": (RequestType.CREATE_ACCOUNT, _("New account")),
}


@capability_required("manage_users")
@require_http_methods(["GET", "POST"])
def user_grant(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """Grant a role or an entitlement, or create an account, for one user (a GRANT_ROLE,
    GRANT_ENTITLEMENT or CREATE_ACCOUNT request)."""
    if kind not in GRANTS:
        raise Http404("Unknown kind")
    request_type, title = GRANTS[kind]
    user = get_object_or_404(User, pk=pk)
    form = GrantForm(request.POST if request.method == "POST" else None, kind=kind)
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["target"]
        try:
            req = request_create(
                actor=_actor(request),
                source=Source.CONSOLE,
                request_type=request_type,
                beneficiary=user,
                **{kind: target},
                justification=form.cleaned_data["justification"],
                start_at=access_day(form.cleaned_data.get("start")),
                end_at=access_day(form.cleaned_data.get("end"), end=True),
            )
        except DomainError as error:
            _show_errors(request, error, form)
        else:
            return _done(
                request,
                req,
                gettext("%(title)s: %(target)s for %(username)s")
                % {"title": title, "target": target, "username": user.username},
            )
    context = {"subject": user, "form": form, "title": title, "kind": kind}
    status = 400 if form.is_bound and form.errors else 200
    return render_console(request, "console/requests/grant.html", context, status=status)


def _revocable(user: User, kind: str, obj_pk: int) -> tuple[Model, dict[str, Any], str]:
    """What a revoke of ``kind`` #obj_pk for ``user`` takes away: the object, the request's
    references, a name. 404 when the user does not hold it."""
    if kind == "role":
        rm = get_object_or_404(RoleMembership.objects.select_related("role"), user=user, role_id=obj_pk)
        return rm, {"role": rm.role}, gettext("role %(name)s") % {"name": rm.role.name}
    if kind == "entitlement":
        m = get_object_or_404(
            EntitlementMembership.objects.select_related("entitlement", "account__resource"),
            account__owner=user,
            pk=obj_pk,
        )
        refs = {"entitlement": m.entitlement, "account": m.account}
        return (
            m,
            refs,
            gettext("entitlement %(name)s on %(resource)s")
            % {"name": m.entitlement.name, "resource": m.account.resource.name},
        )
    raise Http404("Unknown kind")


REVOKES = {"role": RequestType.REVOKE_ROLE, "entitlement": RequestType.REVOKE_ENTITLEMENT}


@capability_required("manage_users")
@require_http_methods(["GET", "POST"])
def user_revoke(request: HttpRequest, pk: int, kind: str, obj_pk: int) -> HttpResponse:
    """Take a role (``obj_pk`` is the role) or an entitlement membership (``obj_pk`` is the
    membership) away from a user: a REVOKE_ROLE or REVOKE_ENTITLEMENT request. What a role keeps
    is refused by the request service with its reason."""
    if kind not in REVOKES:
        raise Http404("Unknown kind")
    user = get_object_or_404(User, pk=pk)
    held, refs, name = _revocable(user, kind, obj_pk)
    form = _Justified(request.POST if request.method == "POST" else None)
    kept_by_role = getattr(held, "management", Management.MANUAL) == Management.ROLE or (
        kind == "entitlement" and not getattr(held, "manual", True)
    )
    if request.method == "POST" and form.is_valid():
        try:
            req = request_create(
                actor=_actor(request),
                source=Source.CONSOLE,
                request_type=REVOKES[kind],
                beneficiary=user,
                justification=form.cleaned_data["justification"],
                **refs,
            )
        except DomainError as error:
            _show_errors(request, error, form)
        else:
            return _done(
                request,
                req,
                gettext("Revoke %(name)s from %(username)s") % {"name": name, "username": user.username},
            )
    context = {"subject": user, "form": form, "name": name, "kind": kind, "kept_by_role": kept_by_role}
    status = 400 if form.is_bound and form.errors else 200
    return render_console(request, "console/requests/revoke.html", context, status=status)


@capability_required("manage_users")
@require_http_methods(["GET", "POST"])
def role_members_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add one or many people to a role: one GRANT_ROLE request each, all or none (a refusal
    for one person writes no request for the others)."""
    role = get_object_or_404(Role, pk=pk)
    form = MembersAddForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        people: list[User] = form.cleaned_data["people"]
        refused: list[str] = []
        made: list[Request] = []
        try:
            with transaction.atomic():
                for person in people:
                    try:
                        with transaction.atomic():
                            made.append(
                                request_create(
                                    actor=_actor(request),
                                    source=Source.CONSOLE,
                                    request_type=RequestType.GRANT_ROLE,
                                    beneficiary=person,
                                    role=role,
                                    justification=form.cleaned_data["justification"],
                                )
                            )
                    except DomainError as error:
                        refused.append(f"{person.username}: {error.message}")
                if refused:
                    raise _AllOrNone
        except _AllOrNone:
            for line in refused:
                form.add_error("people", line)
            messages.error(request, gettext("Nobody was added: fix or remove the people named below."))
        else:
            numbers = ", ".join(f"#{r.pk}" for r in made)
            messages.success(
                request,
                gettext("%(count)s request(s) to add people to %(role)s: %(numbers)s.")
                % {"count": len(made), "role": role.name, "numbers": numbers},
            )
            return redirect(f"{reverse('console:role_detail', args=[role.pk])}?tab=members")
    status = 400 if form.is_bound and form.errors else 200
    return render_console(
        request, "console/requests/members_add.html", {"role": role, "form": form}, status=status
    )


class _AllOrNone(Exception):
    """Rolls back the requests already made when one person of a batch is refused."""

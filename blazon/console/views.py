"""The console's screens, declared rather than copied (NetBox's ObjectListView, ObjectEditView
and ObjectDeleteView are the model). A screen names its model, form, template and the services
that change things; the kernel does the access check, lists (search, filters, sort, paging,
CSV export), the form round trip with field errors, messages, and the delete confirmation that
shows what else goes. The services write the audit events; the kernel never changes data itself.

Declare a screen as ``ObjectEditView.as_view(model=..., ...)`` or subclass one of these and
override a hook (``get_form``, ``form_data``, ``extra_context``...). See docs/dev/console.md."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model, ProtectedError, QuerySet, RestrictedError
from django.db.models.deletion import Collector
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from blazon.console.access import capability_check, render_console, report_domain_error
from blazon.console.lists import PAGE_SIZE, Column, csv_response, list_filter, paginate
from blazon.errors import DomainError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

SOURCE = "console"


class ConsoleView(View):
    """A console page behind one capability (``view`` to read by default)."""

    capability: str = "view"
    template_name: str = ""
    http_method_names = ["get"]  # noqa: RUF012 (Django's own attribute)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Who asks is checked first (the login page or 403, whatever the method), then the
        # method (405): a user without the capability learns nothing about the screen.
        denied = capability_check(request, self.capability)
        if denied is not None:
            return denied
        if request.method is None or request.method.lower() not in self.http_method_names:
            return self.http_method_not_allowed(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def render(self, context: dict[str, Any], status: int = 200) -> HttpResponse:
        return render_console(self.request, self.template_name, context, status=status)


def _english(text: StrOrPromise) -> str:
    """``text`` in English (a translatable noun makes HTML ids, which stay the same in every language)."""
    with translation.override("en"):
        return str(text)


def _url(route: str, obj: Model | None = None) -> str:
    """A route name (with the object's pk when it takes one) or a literal path."""
    if route.startswith("/"):
        return route
    return reverse(route, args=[obj.pk]) if obj is not None else reverse(route)


class ObjectListView(ConsoleView):
    """A list: queryset + search fields + filters + sortable columns, paged; with
    ``csv_columns`` declared, ``?export=csv`` downloads the whole filtered selection."""

    queryset: QuerySet | None = None
    search: Iterable[str] = ()
    filters: dict[str, str] | None = None
    orderings: dict[str, str] | None = None
    default_order: str = ""
    paginate_by: int = PAGE_SIZE  # 0: every row on one page (short configuration lists)
    context_object_name: str = ""  # the rows under this name too ("policies")
    csv_columns: Sequence[Column] = ()
    csv_name: str = "export"

    def get_queryset(self) -> QuerySet:
        assert self.queryset is not None, f"{type(self).__name__} declares no queryset"
        return self.queryset.all()

    def extra_context(self) -> dict[str, Any]:
        """What the template needs besides the rows: the choices of the filter boxes."""
        return {}

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        rows, asked = list_filter(
            request,
            self.get_queryset(),
            search=self.search,
            filters=self.filters,
            orderings=self.orderings,
            default_order=self.default_order,
        )
        if self.csv_columns and request.GET.get("export") == "csv":
            return csv_response(rows, self.csv_columns, self.csv_name)
        page = paginate(request, rows, self.paginate_by) if self.paginate_by else {"object_list": rows}
        context = {**page, **asked}
        if self.context_object_name:
            context[self.context_object_name] = context["object_list"]
        context.update(self.extra_context())
        return self.render(context)


class ObjectView(ConsoleView):
    """A page about one object: ``obj`` is looked up by ``pk`` (404 when there is none)."""

    model: type[Model] | None = None
    queryset: QuerySet | None = None
    noun: StrOrPromise = ""  # "organization": titles, messages and the form id are built from it
    detail_route: str = ""  # route of the object's page (takes its pk)
    list_route: str = ""  # route of the list

    def get_queryset(self) -> QuerySet:
        if self.queryset is not None:
            return self.queryset.all()
        assert self.model is not None, f"{type(self).__name__} declares no model"
        return self.model._default_manager.all()

    def get_object(self) -> Any:
        pk = self.kwargs.get("pk")
        return get_object_or_404(self.get_queryset(), pk=pk) if pk is not None else None

    def detail_url(self, obj: Any) -> str:
        return _url(self.detail_route, obj) if self.detail_route else self.list_url()

    def list_url(self) -> str:
        return _url(self.list_route)

    def name_of(self, obj: Any) -> str:
        return str(getattr(obj, "name", obj))

    def message(self, template: StrOrPromise, obj: Any) -> str:
        noun = str(self.noun)
        return str(template).format(Noun=noun[:1].upper() + noun[1:], noun=noun, name=self.name_of(obj))


class ObjectEditView(ObjectView):
    """Create (no ``pk`` in the URL) or edit an object with a form; ``create`` and ``update``
    are the services: ``create(actor=, source=, **data)`` and
    ``update(actor=, source=, <object_kwarg>=obj, data=data)``. A refusal comes back on the form."""

    capability = "manage_config"
    http_method_names = ["get", "post"]
    template_name = "console/form.html"
    form_class: Any = None
    form_object_kwarg: str = ""  # the form takes the object itself (``policy=``, ``instance=``)
    object_kwarg: str = ""  # the update service's name for the object; the model's name if empty
    create: Callable[..., Any] | None = None
    update: Callable[..., Any] | None = None
    kind: str = ""  # the form's id is "<kind>-form"; the noun with hyphens if empty
    new_title: StrOrPromise = gettext_lazy("New {noun}")
    edit_title: StrOrPromise = gettext_lazy("Edit {noun} {name}")
    saved_message: StrOrPromise = gettext_lazy("{Noun} {name} saved.")
    invalid_status: int = 200  # some screens answer 400 to a form sent back with errors
    go_to_list: bool = False  # after saving, the list rather than the object's page
    prefill: tuple[str, ...] = ()  # fields a new object's form takes from the query string
    data_kwarg: bool = False  # the create service takes ``data=`` rather than the fields as kwargs

    def get_form(self, obj: Any) -> Any:
        data = self.request.POST or None
        if self.form_object_kwarg:
            return self.form_class(data, **{self.form_object_kwarg: obj})
        initial = self.form_class.initial_from(obj) if obj is not None else self.initial()
        return self.form_class(data, initial=initial)

    def initial(self) -> dict[str, Any] | None:
        """The form's values for a new object: the ``prefill`` fields from the query string."""
        return {name: self.request.GET.get(name) for name in self.prefill} if self.prefill else None

    def form_data(self, form: Any) -> dict[str, Any]:
        service_data = getattr(form, "service_data", None)
        return service_data() if service_data else dict(form.cleaned_data)

    def save(self, form: Any, obj: Any) -> Any:
        actor, data = self.request.user, self.form_data(form)
        if obj is None:
            assert self.create is not None
            if self.data_kwarg:
                return self.create(actor=actor, source=SOURCE, data=data)
            return self.create(actor=actor, source=SOURCE, **data)
        assert self.update is not None
        kwarg = self.object_kwarg or type(obj)._meta.model_name
        return self.update(actor=actor, source=SOURCE, data=data, **{kwarg: obj})

    def saved(self, obj: Any, form: Any) -> HttpResponse:
        """After a successful save: the message and where to go."""
        messages.success(self.request, self.saved_text(obj))
        return redirect(self.list_url() if self.go_to_list else self.detail_url(obj))

    def title(self, obj: Any) -> str:
        return self.message(self.edit_title if obj is not None else self.new_title, obj)

    def saved_text(self, obj: Any) -> str:
        return self.message(self.saved_message, obj)

    def extra_context(self, form: Any, obj: Any) -> dict[str, Any]:
        return {}

    def is_valid(self, form: Any) -> bool:
        return bool(form.is_valid())

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        obj = self.get_object()
        return self.page(self.get_form(obj), obj)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        obj = self.get_object()
        form = self.get_form(obj)
        if self.is_valid(form):
            try:
                saved = self.save(form, obj)
            except DomainError as error:
                report_domain_error(request, error, form)
            else:
                return self.saved(saved, form)
        return self.page(form, obj, status=self.invalid_status)

    def page(self, form: Any, obj: Any, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "object": obj,
            "title": self.title(obj),
            "cancel_url": self.detail_url(obj) if obj is not None else self.list_url(),
            "kind": self.kind or _english(self.noun).replace(" ", "-"),
        }
        context.update(self.extra_context(form, obj))
        return self.render(context, status=status)


class SettingsEditView(ObjectEditView):
    """A settings page: the one current object (``current()``), edited in place and saved by
    ``update(actor=, source=, data=)``; after saving, the same page again (``list_route``)."""

    current: Callable[[], Any] | None = None
    go_to_list = True
    form_object_kwarg = "instance"
    invalid_message: StrOrPromise = ""  # said when the form comes back with problems

    def get_object(self) -> Any:
        assert self.current is not None, f"{type(self).__name__} declares no current()"
        return self.current()

    def save(self, form: Any, obj: Any) -> Any:
        assert self.update is not None
        return self.update(actor=self.request.user, source=SOURCE, data=self.form_data(form))

    def saved_text(self, obj: Any) -> str:
        return str(self.saved_message)

    def page(self, form: Any, obj: Any, status: int = 200) -> HttpResponse:
        if self.invalid_message and form.is_bound:
            messages.error(self.request, self.invalid_message)
        return super().page(form, obj, status)


def what_else_goes(obj: Model) -> tuple[list[tuple[str, int]], list[str]]:
    """What deleting ``obj`` takes with it: (verbose name, count) of every kind of row the
    database cascade would delete, and the kinds of row that forbid the delete (PROTECT /
    RESTRICT). Join tables of many-to-many fields are left out: they are not things."""
    collector = Collector(using=DEFAULT_DB_ALIAS)
    try:
        collector.collect([obj])
    except (ProtectedError, RestrictedError) as error:
        found = error.protected_objects if isinstance(error, ProtectedError) else error.restricted_objects
        kinds = sorted({str(o._meta.verbose_name_plural) for o in found})
        return [], kinds
    counts: dict[str, int] = {}
    for model, instances in collector.data.items():
        if model._meta.auto_created:
            continue
        n = len([i for i in instances if i != obj])
        if n:
            counts[str(model._meta.verbose_name_plural)] = (
                counts.get(str(model._meta.verbose_name_plural), 0) + n
            )
    for qs in collector.fast_deletes:
        if qs.model._meta.auto_created:
            continue
        n = qs.count()
        if n:
            counts[str(qs.model._meta.verbose_name_plural)] = (
                counts.get(str(qs.model._meta.verbose_name_plural), 0) + n
            )
    return sorted(counts.items()), []


class ObjectActionView(ObjectView):
    """A button on an object's page (POST only): ``action(actor=, source=, <object_kwarg>=obj)``,
    then the object's page with ``done_message`` or the refusal. ``post_fields`` are the boxes
    of the button's form passed on to the action (trimmed: a reason, a comment); with a
    ``form_class`` its cleaned data is (and its errors are messages); ``action_kwargs`` adds
    other arguments (a flag)."""

    capability = "manage_config"
    http_method_names = ["post"]
    action: Callable[..., Any] | None = None
    object_kwarg: str = ""
    done_message: StrOrPromise = gettext_lazy("{Noun} {name} saved.")
    done_level: int = messages.SUCCESS  # WARNING when what was done asks for a follow-up
    post_fields: tuple[str, ...] = ()
    form_class: Any = None

    def action_kwargs(self) -> dict[str, Any]:
        return {name: self.request.POST.get(name, "").strip() for name in self.post_fields}

    def done_text(self, obj: Any, result: Any) -> str:
        return self.message(self.done_message, obj)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        obj, arguments = self.get_object(), self.action_kwargs()
        assert self.action is not None
        kwarg = self.object_kwarg or type(obj)._meta.model_name
        form = self.form_class(request.POST) if self.form_class is not None else None
        if form is not None and not form.is_valid():
            for problem in (p for problems in form.errors.values() for p in problems):
                messages.error(request, problem)
            return redirect(self.detail_url(obj))
        try:
            arguments.update(form.cleaned_data if form is not None else {})
            result = self.action(actor=request.user, source=SOURCE, **{kwarg: obj}, **arguments)
        except DomainError as error:
            report_domain_error(request, error)
        else:
            messages.add_message(request, self.done_level, self.done_text(obj, result))
        return redirect(self.detail_url(obj))


def by_segment(segment: str, **views: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """One URL for several buttons of a page, the button named by a segment of the URL
    (``entries/<pk>/<slug:action>/``): each word is its own view, with its own access check;
    another word is 404."""

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        chosen = views.get(kwargs.pop(segment))
        if chosen is None:
            raise Http404(_("No such %(segment)s.") % {"segment": segment})
        return chosen(request, *args, **kwargs)

    return view


class ObjectDeleteView(ObjectView):
    """Delete an object: GET asks first and shows what else goes (``what_else_goes``), why the
    service would refuse (``blockers``) and what the delete means (``explain``); POST calls the
    ``delete_service``, ``delete_service(actor=, source=, <object_kwarg>=obj)``. With ``confirm`` off
    the screen is a POST-only button (the page that holds it asks)."""

    capability = "manage_config"
    http_method_names = ["get", "post"]
    template_name = "console/delete.html"
    delete_service: Callable[..., Any] | None = None
    object_kwarg: str = ""
    confirm: bool = True
    deleted_message: StrOrPromise = gettext_lazy("{Noun} {name} deleted.")
    verb: StrOrPromise = gettext_lazy(
        "Delete"
    )  # the title's and the button's verb ("Remove" for a part of something)
    refused_to_detail: bool = False  # a refusal goes back to the object's page, not the question
    list_title: StrOrPromise = ""  # the crumb back to the list ("Organizations"); "<Noun> list" if empty
    unblock: StrOrPromise = gettext_lazy("remove them first.")  # what to do about the blockers

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.confirm:
            self.http_method_names = ["post"]

    def blockers(self, obj: Any) -> list[str]:
        """Why the service will refuse, in words (``2 users belong to it``)."""
        return []

    def explain(self, obj: Any) -> str:
        """What deleting means, in one paragraph."""
        return ""

    def subtitle(self, obj: Any) -> str:
        """One muted line under the title that says which object this is."""
        return ""

    def extra_context(self, obj: Any) -> dict[str, Any]:
        return {}

    def confirm_option(self, obj: Any) -> tuple[str, str] | None:
        """A box the administrator must tick to delete, ``(field name, label)``: its value is
        passed to the delete service as ``<field name>=True`` (e.g. purge the values too)."""
        return None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.page(self.get_object())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        obj = self.get_object()
        kwarg = self.object_kwarg or type(obj)._meta.model_name
        assert self.delete_service is not None
        options: dict[str, bool] = {}
        option = self.confirm_option(obj)
        if option is not None:
            options[option[0]] = request.POST.get(option[0]) == "on"
        try:
            result = self.delete_service(actor=request.user, source=SOURCE, **{kwarg: obj}, **options)
        except DomainError as error:
            report_domain_error(request, error)
            if self.refused_to_detail or not self.confirm:
                return redirect(self.detail_url(obj))
            return self.page(obj)
        messages.success(request, self.deleted_text(obj, result))
        return redirect(self.list_url())

    def deleted_text(self, obj: Any, result: Any) -> str:
        """The success message; ``result`` is what the delete service returned."""
        return self.message(self.deleted_message, obj)

    def page(self, obj: Any) -> HttpResponse:
        goes, protected = what_else_goes(obj)
        context = {
            "object": obj,
            "noun": self.noun,
            "name": self.name_of(obj),
            "goes": goes,
            "protected": protected,
            "blockers": self.blockers(obj),
            "explain": self.explain(obj),
            "subtitle": self.subtitle(obj),
            "unblock": self.unblock,
            "list_title": self.list_title or _("%(noun)s list") % {"noun": self.message("{Noun}", obj)},
            "cancel_url": self.detail_url(obj),
            "list_url": self.list_url(),
            "kind": _english(self.noun).replace(" ", "-"),
            "option": self.confirm_option(obj),
            "verb": self.verb,
        }
        context.update(self.extra_context(obj))
        return self.render(context)

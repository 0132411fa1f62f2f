"""Console pages: password and password-change policies, the forbidden words, the help-desk
reset of a user's password and a resource's password synchronisation setting."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from blazon.console import (
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    ObjectView,
    capability_required,
    render_console,
    report_domain_error,
)
from blazon.errors import DomainError
from blazon.permissions import can
from directory.models import Resource, Source, User
from passwords.forms import PasswordChangePolicyForm, PasswordPolicyForm, WordsForm
from passwords.models import ForbiddenWord, PasswordChangePolicy, PasswordPolicy
from passwords.rules import shipped_words
from passwords.selectors import change_policy_for, password_expires_at, password_state, policy_for
from passwords.services import config, password_helpdesk_temporary, reset_link_create, resource_sync_set

SOURCE = Source.CONSOLE

KINDS: dict[str, dict[str, Any]] = {
    "password": {
        "model": PasswordPolicy,
        "form": PasswordPolicyForm,
        "title": gettext_lazy("Password policies"),
        "one": gettext_lazy("password policy"),
        "list": "passwords:policies",
    },
    "change": {
        "model": PasswordChangePolicy,
        "form": PasswordChangePolicyForm,
        "title": gettext_lazy("Password-change policies"),
        "one": gettext_lazy("password-change policy"),
        "list": "passwords:change_policies",
    },
}


class Policies(ObjectListView):
    """The password (``kind="password"``) or password-change policies, all on one page."""

    template_name, paginate_by, context_object_name, kind = (
        "passwords/console/policies.html",
        0,
        "policies",
        "",
    )

    def get_queryset(self) -> Any:
        model = KINDS[self.kind]["model"]
        return model.objects.select_related("organization").order_by("-is_default", "priority", "name")

    def extra_context(self) -> dict[str, Any]:
        return {"kind": self.kind, "spec": KINDS[self.kind]}


policies = Policies.as_view(kind="password")
change_policies = Policies.as_view(kind="change")


class _PolicyKind:
    """The password and the password-change policies share their screens; the URL says which."""

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        spec = KINDS[kwargs["kind"]]
        self.model, self.noun, self.list_route = spec["model"], spec["one"], spec["list"]
        self.form_class, self.kind = spec["form"], f"{kwargs['kind']}-policy"


class PolicyEdit(_PolicyKind, ObjectEditView):
    go_to_list, object_kwarg, saved_message = True, "policy", gettext_lazy("The {noun} {name} was saved.")

    def get_form(self, policy: Any) -> Any:
        # the form works on its own copy: the service compares the stored policy with the data
        instance = self.model() if policy is None else self.model.objects.get(pk=policy.pk)
        return self.form_class(self.request.POST or None, instance=instance)

    def save(self, form: Any, policy: Any) -> Any:
        data = form.service_data()
        return config.policy_save(
            actor=self.request.user, source=SOURCE, model=self.model, data=data, policy=policy
        )


class PolicyDelete(_PolicyKind, ObjectDeleteView):
    confirm, object_kwarg, deleted_message = False, "policy", gettext_lazy("The {noun} {name} was deleted.")
    delete_service = staticmethod(config.policy_delete)


policy_edit = PolicyEdit.as_view()
policy_delete = PolicyDelete.as_view()


@require_http_methods(["GET", "POST"])
@capability_required("view")
def dictionary(request: HttpRequest) -> HttpResponse:
    form = WordsForm(request.POST or None)
    if request.method == "POST":
        if not can(request.user, "manage_config"):
            raise PermissionDenied("Changing the dictionary needs the 'manage_config' capability.")
        if form.is_valid():
            try:
                added = config.forbidden_words_add(
                    actor=request.user, source=SOURCE, text=form.cleaned_data["words"]
                )
            except DomainError as error:
                report_domain_error(request, error, form)
            else:
                messages.success(
                    request,
                    ngettext("%(n)s word added.", "%(n)s words added.", len(added)) % {"n": len(added)}
                    if added
                    else gettext("These words were already listed."),
                )
                return redirect("passwords:dictionary")
    context = {
        "form": form,
        "words": ForbiddenWord.objects.select_related("created_by").order_by("word"),
        "n_shipped": len(shipped_words()),
    }
    return render_console(request, "passwords/console/dictionary.html", context)


dictionary_remove = ObjectDeleteView.as_view(
    model=ForbiddenWord,
    confirm=False,
    object_kwarg="word",
    delete_service=config.forbidden_word_remove,
    deleted_message="“{name}” removed.",
    list_route="passwords:dictionary",
    name_of=lambda word: word.word,
)


class Helpdesk(ObjectView):
    """Help-desk reset: a temporary password shown once, or a single-use link e-mailed to the user."""

    capability, http_method_names = "manage_users", ["get", "post"]
    queryset, template_name = User.objects.select_related("organization"), "passwords/console/helpdesk.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.page(self.get_object())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        subject, action, temporary = self.get_object(), request.POST.get("action"), None
        try:
            if action == "temporary":
                temporary = password_helpdesk_temporary(user=subject, actor=request.user, source=SOURCE)
                messages.success(
                    request,
                    gettext("%(username)s must change this temporary password at their next login.")
                    % {"username": subject.username},
                )
            elif action == "link":
                base_url = request.build_absolute_uri("/")
                reset_link_create(user=subject, actor=request.user, source=SOURCE, base_url=base_url)
                messages.success(
                    request,
                    gettext("A single-use reset link was e-mailed to %(email)s.") % {"email": subject.email},
                )
                return redirect("passwords:helpdesk", pk=subject.pk)
            else:
                messages.error(request, gettext("Choose a temporary password or a reset link."))
        except DomainError as error:
            report_domain_error(request, error)
        return self.page(subject, temporary)

    def page(self, subject: User, temporary: str | None = None) -> HttpResponse:
        policy = policy_for(subject)
        response = self.render(
            {
                "subject": subject,
                "temporary": temporary,
                "state": password_state(subject),
                "policy": policy,
                "change_policy": change_policy_for(subject),
                "expires_at": password_expires_at(subject, policy=policy),
            }
        )
        if temporary:  # shown once: kept out of every cache
            response["Cache-Control"] = "no-store"
        return response


helpdesk = Helpdesk.as_view()


@require_POST
@capability_required("manage_config")
def resource_sync(request: HttpRequest, pk: int) -> HttpResponse:
    resource = get_object_or_404(Resource, pk=pk)
    enabled = request.POST.get("enabled") in {"1", "true", "on"}
    resource_sync_set(actor=request.user, source=SOURCE, resource=resource, enabled=enabled)
    messages.success(
        request,
        (
            gettext("%(resource)s now receives its users' new passwords.")
            if enabled
            else gettext("%(resource)s no longer receives its users' new passwords.")
        )
        % {"resource": resource.name},
    )
    return redirect(f"/console/resources/{resource.pk}/?tab=provisioning")

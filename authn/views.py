"""The login pages (one flow for the console, the workspace and SSO), the forgotten-password
identification, the workspace security pages (TOTP enrolment, secret questions) and the
console pages of authentication policies."""

from __future__ import annotations

from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from authn import factors as f
from authn import flow
from authn.context import LoginContext, set_device_cookie
from authn.forms import (
    ForgotForm,
    LoginForm,
    PolicyForm,
    PreviewForm,
    QuestionsForm,
    RuleFormSet,
    rule_initial,
)
from authn.models import AuthenticationPolicy, Factor, SecretQuestion, TotpDevice
from authn.policies import decide
from authn.services import policy_create, policy_delete, policy_update
from blazon.authcontract import LoginRefused
from blazon.console import (
    ObjectActionView,
    ObjectDeleteView,
    ObjectEditView,
    ObjectListView,
    capability_required,
    render_console,
    report_domain_error,
    workspace_required,
)
from blazon.errors import DomainError
from blazon.permissions import can
from directory.models import User

STEP_TITLES = {
    Factor.PASSWORD: gettext_lazy("Password"),
    Factor.QUESTIONS: gettext_lazy("Secret questions"),
    Factor.EMAIL: gettext_lazy("Code sent by e-mail"),
    Factor.SMS: gettext_lazy("Code sent by SMS"),
    Factor.TOTP: gettext_lazy("Authenticator app"),
}


def safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _finish(request: HttpRequest, done: flow.Done) -> HttpResponse:
    response = HttpResponseRedirect(done.redirect_to)
    if done.remember_device:
        set_device_cookie(response, done.user)
    return response


def _after_check(request: HttpRequest, result: flow.Done | None) -> HttpResponse:
    if result is not None:
        return _finish(request, result)
    return redirect("authn:step")


# --- login ------------------------------------------------------------------------------------


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Username (and password when the policy starts with it), then the further steps."""
    next_url = safe_next(request)
    if request.method == "GET" and request.user.is_authenticated and not request.GET.get("relogin"):
        return redirect(next_url or flow.default_redirect(request.user))
    form = LoginForm(request.POST or None)
    error = ""
    refused_for: LoginRefused | None = None
    if request.method == "POST" and form.is_valid():
        try:
            state = flow.start(request, username=form.cleaned_data["username"], next_url=next_url)
            if flow.current_factor(state) != Factor.PASSWORD:
                return redirect("authn:step")
            if not form.cleaned_data["password"]:
                return redirect("authn:step")
            return _after_check(
                request,
                flow.check(request, state, {"password": form.cleaned_data["password"]}, attempt_sent=True),
            )
        except LoginRefused as refused:
            # the brute-force controls refused the attempt: 429, and when to come back
            error, refused_for = refused.message, refused
        except flow.FlowError as exc:
            error = exc.message
    elif request.method == "POST":
        error = flow.INVALID_LOGIN
    response = render(
        request,
        "authn/login.html",
        {"form": form, "error": error, "next": next_url},
        status=429 if refused_for else 200,
    )
    if refused_for and refused_for.retry_after:
        response["Retry-After"] = str(refused_for.retry_after)
    return response


def admin_login_redirect(request: HttpRequest) -> HttpResponse:
    """Django admin's own login form would bypass policies, factors and the lock: send it to
    the one login flow instead."""
    target = safe_next(request) or "/django-admin/"
    return redirect(f"{reverse('authn:login')}?{urlencode({'next': target})}")


@sensitive_post_parameters("password", "code", "answer_0", "answer_1", "answer_2", "answer_3", "answer_4")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def step_view(request: HttpRequest) -> HttpResponse:
    state = flow.get_state(request)
    if state is None:
        messages.error(request, flow.EXPIRED)
        return redirect("authn:login")
    error = ""
    if request.method == "POST":
        try:
            return _after_check(request, flow.check(request, state, request.POST.dict()))
        except LoginRefused as refused:
            error = refused.message
        except flow.FlowError as exc:
            if exc.restart:
                messages.error(request, exc.message)
                return redirect("authn:forgot" if state["purpose"] == flow.RESET else "authn:login")
            error = exc.message
        state = flow.get_state(request) or state
    factor = flow.current_factor(state)
    flow.prepare(request, state)
    questions = f.questions_text(state["questions"]) if factor == Factor.QUESTIONS else []
    context = {
        "factor": factor,
        "title": STEP_TITLES.get(factor, _("Verification")),
        "error": error,
        "questions": list(enumerate(questions)),
        "username": state["username"],
        "purpose": state["purpose"],
        "can_remember": state["purpose"] == flow.LOGIN and factor != Factor.PASSWORD,
        "step_no": len(state["done"]) + 1,
        "steps": len(state["factors"]),
    }
    return render(request, "authn/step.html", context)


@require_POST
@csrf_protect
def resend_view(request: HttpRequest) -> HttpResponse:
    state = flow.get_state(request)
    if state is None:
        return redirect("authn:login")
    flow.resend(request, state)
    messages.info(request, _("If the address is on file, a new code is on its way."))
    return redirect("authn:step")


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def forgot_view(request: HttpRequest) -> HttpResponse:
    """Forgotten password: identify, then the non-password factors of the user's policy."""
    form = ForgotForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            flow.start(request, username=form.cleaned_data["username"], purpose=flow.RESET)
            return redirect("authn:step")
        except LoginRefused as refused:
            error = refused.message
        except flow.FlowError as exc:
            error = exc.message
    return render(request, "authn/forgot.html", {"form": form, "error": error})


# --- workspace: my authentication factors ----------------------------------------------------


@workspace_required
def security_view(request: HttpRequest) -> HttpResponse:
    device = TotpDevice.objects.filter(user=request.user, confirmed=True).first()
    context = {
        "device": device,
        "recovery_left": request.user.recovery_codes.filter(used_at__isnull=True).count() if device else 0,
        "questions": SecretQuestion.objects.filter(user=request.user).count(),
        "can_console": can(request.user, "view"),
    }
    return render(request, "authn/security.html", context)


def _qr_svg(uri: str) -> str:
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff", title="TOTP QR code")


@sensitive_post_parameters("code")
@workspace_required
@require_http_methods(["GET", "POST"])
def totp_enrol_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if TotpDevice.objects.filter(user=user, confirmed=True).exists():
        messages.info(request, _("Your authenticator app is already set up."))
        return redirect("authn:security")
    error = ""
    if request.method == "POST":
        try:
            codes = f.totp_enrol_confirm(user=user, code=request.POST.get("code", ""))
        except DomainError as exc:
            error = exc.message
        else:
            return render(
                request, "authn/recovery_codes.html", {"codes": codes, "can_console": can(user, "view")}
            )
    device = TotpDevice.objects.filter(user=user, confirmed=False).first()
    if device is None or request.method == "GET":
        device = f.totp_enrol_start(user=user)
    seed = f.totp_seed(device)
    uri = f.totp_uri(user, seed)
    context = {"qr": _qr_svg(uri), "seed": seed, "error": error, "can_console": can(user, "view")}
    return render(request, "authn/totp_enrol.html", context)


@workspace_required
@require_POST
def totp_remove_view(request: HttpRequest) -> HttpResponse:
    f.totp_remove(user=request.user, actor=request.user, source="workspace")
    messages.success(request, _("Authenticator app removed."))
    return redirect("authn:security")


@workspace_required
@require_POST
def recovery_regenerate_view(request: HttpRequest) -> HttpResponse:
    if not TotpDevice.objects.filter(user=request.user, confirmed=True).exists():
        messages.error(request, _("Set up an authenticator app first."))
        return redirect("authn:security")
    codes = f.recovery_codes_regenerate(user=request.user)
    return render(
        request, "authn/recovery_codes.html", {"codes": codes, "can_console": can(request.user, "view")}
    )


@sensitive_post_parameters("answer_0", "answer_1", "answer_2", "answer_3", "answer_4")
@workspace_required
@require_http_methods(["GET", "POST"])
def questions_view(request: HttpRequest) -> HttpResponse:
    count = max(settings.BLAZON_SECRET_QUESTIONS_MIN, 3)
    initial = {
        f"question_{i}": q
        for i, q in enumerate(
            SecretQuestion.objects.filter(user=request.user).values_list("question", flat=True)
        )
    }
    form = QuestionsForm(request.POST or None, initial=initial, count=count)
    if request.method == "POST" and form.is_valid():
        try:
            f.questions_set(user=request.user, pairs=form.pairs())
        except DomainError as exc:
            report_domain_error(request, exc, form)
        else:
            messages.success(request, _("Your secret questions are saved."))
            return redirect("authn:security")
    return render(request, "authn/questions.html", {"form": form, "can_console": can(request.user, "view")})


# --- console: authentication policies ----------------------------------------------------------


class PoliciesList(ObjectListView):
    template_name, paginate_by, context_object_name = "authn/console/policies.html", 0, "policies"
    queryset = (
        AuthenticationPolicy.objects.select_related("organization")
        .prefetch_related("rules")
        .order_by("-is_default", "priority", "name")
    )

    def extra_context(self) -> dict[str, Any]:
        return {"preview": PreviewForm()}


policies_list = PoliciesList.as_view()


def _policy_data(form: PolicyForm) -> dict[str, Any]:
    d = form.cleaned_data
    return {
        "name": d["name"],
        "description": d["description"],
        "priority": d["priority"],
        "is_default": d["is_default"],
        "organization_id": d["organization"].pk if d["organization"] else None,
        "attribute_name": d["attribute_name"].strip(),
        "attribute_value": d["attribute_value"].strip(),
    }


class PolicyEdit(ObjectEditView):
    """A policy and its ordered rules (a formset: "Order" renumbers them; deleted and untouched
    empty rules drop out)."""

    model, form_class, noun = AuthenticationPolicy, PolicyForm, gettext_lazy("authentication policy")
    template_name, list_route, go_to_list = "authn/console/policy_form.html", "authn:policies", True
    form_object_kwarg, invalid_status = "instance", 400
    edit_title, saved_message = (
        gettext_lazy("Edit {name}"),
        gettext_lazy("Authentication policy {name!r} saved."),
    )

    def get_form(self, policy: AuthenticationPolicy | None) -> PolicyForm:
        form = super().get_form(policy)
        initial = [rule_initial(r) for r in policy.rules.order_by("position", "pk")] if policy else []
        form.rules = RuleFormSet(self.request.POST or None, initial=initial, prefix="rules")
        return form

    def is_valid(self, form: PolicyForm) -> bool:
        return form.is_valid() and form.rules.is_valid()

    def save(self, form: PolicyForm, policy: AuthenticationPolicy | None) -> AuthenticationPolicy:
        ordered = [r.as_rule() for r in form.rules.ordered_forms]
        kwargs = {
            "actor": self.request.user,
            "source": "console",
            "data": _policy_data(form),
            "rules": ordered,
        }
        if policy is None:
            return policy_create(**kwargs)
        policy_update(policy=policy, **kwargs)
        return policy

    def extra_context(self, form: PolicyForm, policy: AuthenticationPolicy | None) -> dict[str, Any]:
        return {"rules": form.rules, "policy": policy}


policy_edit = PolicyEdit.as_view()
policy_delete_view = ObjectDeleteView.as_view(
    model=AuthenticationPolicy,
    noun=gettext_lazy("authentication policy"),
    confirm=False,
    object_kwarg="policy",
    delete_service=policy_delete,
    deleted_message=gettext_lazy("Authentication policy {name!r} deleted."),
    list_route="authn:policies",
)


# Help desk: remove a user's authenticator app, recovery codes and secret questions (lost
# phone); the user sets them up again after logging in.
user_factors_reset = ObjectActionView.as_view(
    model=User,
    capability="manage_users",
    action=f.factors_reset,
    detail_route="console:user_detail",
    done_message=gettext_lazy("Login factors of {name} removed; they can set them up again."),
    name_of=lambda user: user.username,
)


@capability_required("view")
def policy_preview(request: HttpRequest) -> HttpResponse:
    """Which policy, rule and factors apply to user X from IP Y at time T."""
    form = PreviewForm(request.GET or None)
    result = None
    if request.GET and form.is_valid():
        d = form.cleaned_data
        user = User.objects.filter(username=d["username"].strip()).first()
        decision = decide(user, LoginContext(ip=d["ip"], at=d["at"], device_known=d["device_known"]))
        result = {
            "user": user,
            "decision": decision,
            "factors": [Factor(x).label for x in decision.factors if x in Factor.values],
            "blocked": user is not None and (user.status != "ACTIVE" or user.login_locked),
        }
    return render_console(
        request,
        "authn/console/preview.html",
        {"form": form, "result": result},
        400 if request.GET and not form.is_valid() else 200,
    )

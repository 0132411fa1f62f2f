"""The login (and forgotten-password) flow: one state machine kept in the session, used by the
console, the workspace and SSO (they send the browser to ``/login/?next=...``).

A flow starts from a username, asks the factors the user's policy decides in order, and ends
with ``login()`` (or, for a reset, the reset session keys of ``blazon.authcontract``). An
unknown, locked or non-ACTIVE user walks through the same steps as the default policy and
fails with the same answer: nothing tells them apart."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, login, user_login_failed
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from authn import factors as f
from authn.context import LoginContext, client_ip
from authn.models import Factor, LoginFailure
from authn.policies import decide
from blazon.audit.services import audit_record
from blazon.authcontract import (
    RESET_NEW_PASSWORD_URL,
    RESET_USER,
    RESET_VERIFIED_AT,
    SESSION_AUTH_AT,
    SESSION_FACTORS,
    login_attempt,
)
from blazon.permissions import can
from directory.selectors import user_can_sign_in

FLOW_KEY = "blazon.authn.flow"
LOGIN, RESET = "login", "reset"

INVALID_LOGIN = _(
    "Please enter a correct username and password. Note that both fields may be case-sensitive."
)
INVALID_CODE = _("That answer is not valid or has expired. Try again.")
DENIED = _("Login is not allowed from your network or at this time. Contact your administrator.")
TOO_MANY = _("Too many wrong answers. Start again.")
EXPIRED = _("Your login took too long. Start again.")


class FlowError(Exception):
    """The flow cannot go on; ``message`` is safe to show (it never says whether the user exists)."""

    def __init__(self, message: str, *, restart: bool = False):
        super().__init__(message)
        self.message = message
        self.restart = restart


@dataclass
class Done:
    """The flow is complete: where to send the browser, and whether to remember the device."""

    redirect_to: str
    user: Any
    remember_device: bool = False


def _user_model() -> Any:
    return get_user_model()


def get_state(request: HttpRequest) -> dict[str, Any] | None:
    state = request.session.get(FLOW_KEY)
    if not state:
        return None
    if time.time() - state["started"] > settings.BLAZON_LOGIN_FLOW_SECONDS:
        request.session.pop(FLOW_KEY, None)
        return None
    return state


def _save(request: HttpRequest, state: dict[str, Any]) -> None:
    request.session[FLOW_KEY] = state
    request.session.modified = True


def discard(request: HttpRequest) -> None:
    request.session.pop(FLOW_KEY, None)


def state_user(state: dict[str, Any]) -> Any:
    """The user the flow may log in — None for an unknown, locked or inactive name."""
    uid = state.get("uid")
    if uid is None:
        return None
    user = _user_model().objects.filter(pk=uid).first()
    return user if user_can_sign_in(user) else None


def _attempt(request: HttpRequest, username: str) -> None:
    # LoginRefused raised by a receiver propagates to the view, which shows its message.
    login_attempt.send(sender=__name__, request=request, username=username)


def start(request: HttpRequest, *, username: str, purpose: str = LOGIN, next_url: str = "") -> dict[str, Any]:
    """Open a flow for ``username``: find the user and what their policy asks in this context."""
    username = username.strip()
    _attempt(request, username)
    found = _user_model().objects.filter(username=username).first() if username else None
    user = found if user_can_sign_in(found) else None
    decision = decide(user, LoginContext.from_request(request, user))
    factors = list(decision.factors)
    if purpose == RESET:
        factors = [x for x in factors if x != Factor.PASSWORD] or [Factor.EMAIL.value]
    state = {
        "id": secrets.token_urlsafe(24),
        "purpose": purpose,
        "username": username,
        "uid": user.pk if user else None,
        "blocked_uid": found.pk if found is not None and user is None else None,
        "factors": factors,
        "done": [],
        "next": next_url,
        "started": time.time(),
        "failures": 0,
        "questions": [],
        "policy": decision.policy_name,
    }
    if not decision.allowed:
        _failed(request, state, "policy_denied")
        discard(request)
        raise FlowError(str(DENIED), restart=True)
    _save(request, state)
    return state


def current_factor(state: dict[str, Any]) -> str | None:
    return next((x for x in state["factors"] if x not in state["done"]), None)


def _failed(request: HttpRequest, state: dict[str, Any], reason: str) -> None:
    user_login_failed.send(
        sender=__name__, credentials={"username": state["username"]}, request=request, reason=reason
    )
    uid = state.get("uid") or state.get("blocked_uid")
    if uid is None:
        return
    with transaction.atomic():
        LoginFailure.objects.create(
            user_id=uid, at=timezone.now(), reason=reason, client_ip=client_ip(request) or None
        )
        audit_record(
            actor=None,
            action="authn.login_failed",
            object_type="directory.User",
            object_id=uid,
            object_repr=state["username"],
            new={"reason": reason, "purpose": state["purpose"], "policy": state.get("policy", "")},
            source="login",
            subject_user_id=uid,
        )


def prepare(request: HttpRequest, state: dict[str, Any]) -> dict[str, Any]:
    """What the current step needs before it is shown: a code sent, questions picked."""
    factor = current_factor(state)
    user = state_user(state)
    if factor in (Factor.EMAIL, Factor.SMS) and factor not in state.get("sent", {}):
        f.code_send(user=user, channel=factor, flow_id=state["id"])
        state.setdefault("sent", {})[factor] = time.time()
        _save(request, state)
    if factor == Factor.QUESTIONS and not state["questions"]:
        state["questions"] = f.questions_pick(user, state["username"])
        _save(request, state)
    return state


def resend(request: HttpRequest, state: dict[str, Any]) -> None:
    factor = current_factor(state)
    if factor in (Factor.EMAIL, Factor.SMS):
        last = state.get("sent", {}).get(factor, 0)
        if time.time() - last >= settings.BLAZON_OTP_RESEND_SECONDS:
            f.code_send(user=state_user(state), channel=factor, flow_id=state["id"])
            state.setdefault("sent", {})[factor] = time.time()
            _save(request, state)


def check(
    request: HttpRequest, state: dict[str, Any], data: dict[str, Any], *, attempt_sent: bool = False
) -> Done | None:
    """Check the current factor with the submitted ``data``. Returns ``Done`` when the flow is
    complete, None when another factor follows; raises ``FlowError`` on a wrong answer.
    ``attempt_sent``: ``start`` already announced this attempt in the same request."""
    factor = current_factor(state)
    if factor is None:
        raise FlowError(str(EXPIRED), restart=True)
    if not attempt_sent:
        _attempt(request, state["username"])
    user = state_user(state)
    if factor == Factor.PASSWORD:
        ok = f.password_verify(user, data.get("password", ""))
    elif factor in (Factor.EMAIL, Factor.SMS):
        ok = f.code_verify(user=user, channel=factor, flow_id=state["id"], code=data.get("code", ""))
    elif factor == Factor.TOTP:
        ok = f.totp_verify(user=user, code=data.get("code", ""))
    elif factor == Factor.QUESTIONS:
        answers = [data.get(f"answer_{i}", "") for i in range(len(state["questions"]))]
        ok = f.questions_verify(user=user, picked=state["questions"], answers=answers)
    else:  # a factor name from a policy this version does not know: never passes
        ok = False
    if data.get("remember"):
        state["remember"] = True
    if not ok:
        reason = "inactive" if state.get("blocked_uid") and factor == Factor.PASSWORD else factor
        _failed(request, state, reason)
        state["failures"] += 1
        if factor == Factor.PASSWORD:
            discard(request)
            raise FlowError(str(INVALID_LOGIN), restart=True)
        if state["failures"] >= settings.BLAZON_LOGIN_MAX_FAILURES:
            discard(request)
            raise FlowError(str(TOO_MANY), restart=True)
        _save(request, state)
        raise FlowError(str(INVALID_CODE))
    state["done"].append(factor)
    _save(request, state)
    if current_factor(state) is not None:
        return None
    return _complete(request, state)


def default_redirect(user: Any) -> str:
    return reverse("console:dashboard") if can(user, "view") else reverse("workspace:home")


def reset_url() -> str:
    return reverse(RESET_NEW_PASSWORD_URL)  # the passwords app's final step (authcontract)


def _complete(request: HttpRequest, state: dict[str, Any]) -> Done:
    user = state_user(state)
    discard(request)
    if user is None:  # cannot happen for a real user (each factor fails); defence in depth
        raise FlowError(str(INVALID_LOGIN), restart=True)
    now = time.time()
    if state["purpose"] == RESET:
        request.session.cycle_key()
        request.session[RESET_USER] = user.pk
        request.session[RESET_VERIFIED_AT] = int(now)
        with transaction.atomic():
            audit_record(
                actor=user,
                action="authn.reset_verified",
                obj=user,
                new={"factors": state["done"]},
                source="login",
                subject_user_id=user.pk,
            )
        return Done(redirect_to=reset_url(), user=user)
    if request.user.is_authenticated and request.user.pk != user.pk:
        request.session.flush()
    request.session[SESSION_FACTORS] = list(state["done"])
    request.session[SESSION_AUTH_AT] = int(now)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    with transaction.atomic():
        audit_record(
            actor=user,
            action="authn.login",
            obj=user,
            new={"factors": state["done"], "policy": state.get("policy", "")},
            source="login",
            subject_user_id=user.pk,
        )
    remember = bool(state.get("remember")) and any(x != Factor.PASSWORD for x in state["done"])
    return Done(redirect_to=state["next"] or default_redirect(user), user=user, remember_device=remember)

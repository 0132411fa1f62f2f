"""The factors: checking each one, and enrolling the ones a user sets up (TOTP and its
recovery codes, secret questions). Comparisons of codes are constant-time; codes and answers
are stored hashed; the TOTP seed is sealed by the vault."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from datetime import timedelta
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, override

from authn import sms
from authn.models import CodeChannel, OneTimeCode, RecoveryCode, SecretQuestion, TotpDevice
from blazon.audit.services import audit_record
from blazon.errors import DomainError
from vault import crypto

TOTP_KIND = "AUTHN_TOTP"
RECOVERY_CODES = 10
CODE_DIGITS = 6


def _hmac(value: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def _dummy_password_check() -> None:
    # Same work as a real check, so an unknown user answers in similar time.
    check_password("not the password", _dummy_hash())


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(make_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


# --- password ---------------------------------------------------------------------------------


def password_verify(user: Any, password: str) -> bool:
    if user is None or not user.has_usable_password():
        _dummy_password_check()
        return False
    return user.check_password(password)


# --- one-time codes by e-mail and SMS -----------------------------------------------------------


def _phone(user: Any) -> str:
    return str((user.attributes or {}).get(settings.BLAZON_SMS_PHONE_ATTRIBUTE, "") or "").strip()


def code_send(*, user: Any, channel: str, flow_id: str) -> None:
    """Create a fresh code for this flow (earlier ones of the flow stop working) and send it
    now: the user is waiting for it, so it is not queued. An unknown user (``None``) gets
    nothing sent and the same answer."""
    if user is None:
        return
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    with transaction.atomic():
        OneTimeCode.objects.filter(flow_id=flow_id, channel=channel, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        OneTimeCode.objects.create(
            user=user,
            channel=channel,
            flow_id=flow_id,
            code_hash=_hmac(f"{flow_id}:{code}"),
            expires_at=timezone.now() + timedelta(seconds=settings.BLAZON_OTP_CODE_SECONDS),
        )
    minutes = max(1, settings.BLAZON_OTP_CODE_SECONDS // 60)
    with override(getattr(user, "language", "") or settings.LANGUAGE_CODE):
        text = gettext("Your Blazon verification code is %(code)s. It expires in %(minutes)s minutes.") % {
            "code": code,
            "minutes": minutes,
        }
        subject = gettext("Your Blazon verification code")
    if channel == CodeChannel.EMAIL:
        if user.email:
            send_mail(subject, text, None, [user.email], fail_silently=True)
    else:
        phone = _phone(user)
        if phone:
            _sms_quietly(phone, text)


def _sms_quietly(to: str, text: str) -> None:
    try:
        sms.gateway().send(to=to, message=text)
    except sms.SmsError as exc:
        sms.logger.error("SMS not sent: %s", exc)


@transaction.atomic
def code_verify(*, user: Any, channel: str, flow_id: str, code: str) -> bool:
    """True once for the right, unexpired code of this flow; wrong guesses count towards
    ``BLAZON_OTP_MAX_ATTEMPTS``, after which the code is dead."""
    if user is None:
        _hmac(code)
        return False
    row = (
        OneTimeCode.objects.select_for_update()
        .filter(flow_id=flow_id, channel=channel, user=user, used_at__isnull=True)
        .order_by("-created_at")
        .first()
    )
    if row is None or row.expires_at <= timezone.now() or row.attempts >= settings.BLAZON_OTP_MAX_ATTEMPTS:
        return False
    if hmac.compare_digest(row.code_hash, _hmac(f"{flow_id}:{code.strip()}")):
        row.used_at = timezone.now()
        row.save(update_fields=["used_at"])
        return True
    row.attempts += 1
    row.save(update_fields=["attempts"])
    return False


# --- TOTP -------------------------------------------------------------------------------------


def _seal(device: TotpDevice, seed: str) -> None:
    sealed = crypto.seal(
        seed,
        secret_id=device.pk,
        kind=TOTP_KIND,
        owner_id=device.user_id,
        account_id=None,
        ring=crypto.keyring(),
    )
    device.key_version = sealed.key_version
    device.wrapped_key = sealed.wrapped_key
    device.wrap_nonce = sealed.wrap_nonce
    device.nonce = sealed.nonce
    device.ciphertext = sealed.ciphertext


def totp_seed(device: TotpDevice) -> str:
    return crypto.open_sealed(
        secret_id=device.pk,
        kind=TOTP_KIND,
        owner_id=device.user_id,
        account_id=None,
        key_version=device.key_version,
        wrapped_key=device.wrapped_key,
        wrap_nonce=device.wrap_nonce,
        nonce=device.nonce,
        ciphertext=device.ciphertext,
        ring=crypto.keyring(),
    )


def totp_uri(user: Any, seed: str) -> str:
    return pyotp.TOTP(seed).provisioning_uri(name=user.username, issuer_name=settings.BLAZON_TOTP_ISSUER)


@transaction.atomic
def totp_enrol_start(*, user: Any) -> TotpDevice:
    """A new, unconfirmed device with a fresh seed (replaces an unconfirmed one; a confirmed
    device stays until the new one is confirmed)."""
    TotpDevice.objects.filter(user=user, confirmed=False).delete()
    if TotpDevice.objects.filter(user=user, confirmed=True).exists():
        raise DomainError(
            gettext("An authenticator app is already set up. Remove it first to enrol a new one.")
        )
    device = TotpDevice(user=user)
    _seal(device, pyotp.random_base32())
    device.save()
    return device


def _totp_match(device: TotpDevice, code: str) -> int | None:
    """The time step ``code`` belongs to (±1 step of drift), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == CODE_DIGITS):
        return None
    totp = pyotp.TOTP(totp_seed(device))
    now_step = int(timezone.now().timestamp()) // totp.interval
    found = None
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.at(step * totp.interval), code):
            found = step
    return found


@transaction.atomic
def totp_enrol_confirm(*, user: Any, code: str) -> list[str]:
    """Confirm the pending device with a first code; returns the recovery codes (shown once)."""
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        raise DomainError(gettext("Start the enrolment again: no pending authenticator app."))
    step = _totp_match(device, code)
    if step is None:
        raise DomainError(gettext("That code is not valid. Check the time on your phone and try again."))
    device.confirmed, device.confirmed_at, device.last_step = True, timezone.now(), step
    device.save(update_fields=["confirmed", "confirmed_at", "last_step"])
    codes = recovery_codes_regenerate(user=user)
    audit_record(
        actor=user,
        action="authn.totp_enrolled",
        obj=device,
        object_repr=f"TOTP of {user.username}",
        source="workspace",
        subject_user_id=user.pk,
    )
    return codes


@transaction.atomic
def totp_remove(*, user: Any, actor: Any, source: str) -> None:
    deleted, _ = TotpDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="authn.totp_removed",
            object_type="authn.TotpDevice",
            object_id=user.pk,
            object_repr=f"TOTP of {user.username}",
            source=source,
            subject_user_id=user.pk,
        )


def totp_enrolled(user: Any) -> bool:
    """Whether ``user`` has a confirmed authenticator app (a TOTP code can re-authenticate them)."""
    return user is not None and TotpDevice.objects.filter(user=user, confirmed=True).exists()


@transaction.atomic
def totp_verify(*, user: Any, code: str) -> bool:
    """A current code of the user's confirmed device, or one of their unused recovery codes;
    each accepted once (the time step must be later than the last accepted one)."""
    if user is None:
        return False
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    if device is None:
        return False
    if "-" in code or len(code.strip()) > CODE_DIGITS:
        return recovery_code_use(user=user, code=code)
    step = _totp_match(device, code)
    if step is None or step <= device.last_step:
        return False
    device.last_step = step
    device.save(update_fields=["last_step"])
    return True


@transaction.atomic
def factors_reset(*, user: Any, actor: Any, source: str) -> None:
    """Remove every factor the user enrolled (TOTP device, recovery codes, secret questions)."""
    devices, _ = TotpDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    questions, _ = SecretQuestion.objects.filter(user=user).delete()
    if devices or questions:
        audit_record(
            actor=actor,
            action="authn.factors_reset",
            object_type="directory.User",
            object_id=user.pk,
            object_repr=user.username,
            old={"authenticator_app": bool(devices), "questions": questions},
            source=source,
            subject_user_id=user.pk,
        )


def _normal_recovery(code: str) -> str:
    return code.strip().lower().replace(" ", "")


@transaction.atomic
def recovery_codes_regenerate(*, user: Any) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_hash=_hmac(f"recovery:{_normal_recovery(c)}")) for c in codes]
    )
    return codes


@transaction.atomic
def recovery_code_use(*, user: Any, code: str) -> bool:
    digest = _hmac(f"recovery:{_normal_recovery(code)}")
    candidates = RecoveryCode.objects.select_for_update().filter(user=user, used_at__isnull=True)
    for row in candidates:
        if hmac.compare_digest(row.code_hash, digest):
            row.used_at = timezone.now()
            row.save(update_fields=["used_at"])
            return True
    return False


# --- secret questions ---------------------------------------------------------------------------


def normalise_answer(answer: str) -> str:
    """Case, accents, punctuation and spacing do not matter ("São Paulo" = "sao  paulo!")."""
    text = unicodedata.normalize("NFKD", answer).encode("ascii", "ignore").decode().lower()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text).split())


@transaction.atomic
def questions_set(*, user: Any, pairs: list[tuple[str, str]]) -> None:
    """Replace the user's secret questions (at least ``BLAZON_SECRET_QUESTIONS_MIN``)."""
    cleaned = [(q.strip(), normalise_answer(a)) for q, a in pairs if q.strip()]
    fields: dict[str, list[str]] = {}
    if len(cleaned) < settings.BLAZON_SECRET_QUESTIONS_MIN:
        fields["__all__"] = [
            gettext("Set at least %(n)s questions.") % {"n": settings.BLAZON_SECRET_QUESTIONS_MIN}
        ]
    if len({q.lower() for q, _ in cleaned}) != len(cleaned):
        fields["__all__"] = [gettext("Each question must be different.")]
    if any(len(a) < 2 for _, a in cleaned):
        fields["__all__"] = [gettext("Each answer needs at least 2 letters or digits.")]
    if fields:
        raise DomainError(fields["__all__"][0], fields=fields)
    SecretQuestion.objects.filter(user=user).delete()
    SecretQuestion.objects.bulk_create(
        [SecretQuestion(user=user, question=q, answer_hash=make_password(a)) for q, a in cleaned]
    )
    audit_record(
        actor=user,
        action="authn.secret_questions_set",
        object_type="directory.User",
        object_id=user.pk,
        object_repr=user.username,
        new={"questions": [q for q, _ in cleaned]},
        source="workspace",
        subject_user_id=user.pk,
    )


DECOY_QUESTIONS = [
    "What was the name of your first pet?",
    "In which city were your parents married?",
    "What was the make of your first car?",
    "What is the name of the street you grew up on?",
    "What was your childhood nickname?",
]


def questions_pick(user: Any, username: str) -> list[int | str]:
    """The k questions asked in this flow: random among the user's; for an unknown user, the
    same decoys for the same name every time (so asking twice does not tell them apart)."""
    k = settings.BLAZON_SECRET_QUESTIONS_ASK
    if user is not None:
        ids = list(SecretQuestion.objects.filter(user=user).values_list("pk", flat=True))
        if ids:
            return secrets.SystemRandom().sample(ids, min(k, len(ids)))
    seed = int(_hmac(f"decoy:{username.lower()}")[:8], 16)
    return [DECOY_QUESTIONS[(seed + i) % len(DECOY_QUESTIONS)] for i in range(k)]


def questions_text(picked: list[int | str]) -> list[str]:
    ids = [p for p in picked if isinstance(p, int)]
    by_id = dict(SecretQuestion.objects.filter(pk__in=ids).values_list("pk", "question"))
    return [by_id.get(p, "") if isinstance(p, int) else p for p in picked]


def questions_verify(*, user: Any, picked: list[int | str], answers: list[str]) -> bool:
    rows = (
        {
            q.pk: q
            for q in SecretQuestion.objects.filter(
                user=user, pk__in=[p for p in picked if isinstance(p, int)]
            )
        }
        if user
        else {}
    )
    ok = len(answers) == len(picked) and bool(picked)
    for pid, answer in zip(picked, answers, strict=False):
        row = rows.get(pid) if isinstance(pid, int) else None
        good = check_password(normalise_answer(answer), row.answer_hash if row else _dummy_hash())
        ok = ok and good and row is not None
    return ok

"""Sending SMS through a pluggable gateway (``BLAZON_SMS_GATEWAY``).

``http``: a generic JSON SMS API — ``POST BLAZON_SMS_URL`` with ``{"to": ..., "message": ...}``
and ``Authorization: Bearer BLAZON_SMS_TOKEN``; any 2xx answer is success.
``console``: embedded mode only, writes the message to the log (never use in production)."""

from __future__ import annotations

import logging
from typing import Protocol

import requests
from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("blazon.authn.sms")


class SmsError(Exception):
    """The gateway did not accept the message."""


class SmsGateway(Protocol):
    def send(self, *, to: str, message: str) -> None: ...


class HttpJsonSmsGateway:
    """A generic JSON-over-HTTP SMS API."""

    def __init__(self, *, url: str, token: str = "", timeout: float = 10.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, *, to: str, message: str) -> None:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = requests.post(
                self.url, json={"to": to, "message": message}, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise SmsError(f"SMS gateway unreachable: {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise SmsError(f"SMS gateway answered HTTP {response.status_code}")


class ConsoleSmsGateway:
    """Embedded mode: the message goes to the log, like the console e-mail backend."""

    def send(self, *, to: str, message: str) -> None:
        logger.warning("SMS to %s: %s", to, message)


def gateway() -> SmsGateway:
    name = settings.BLAZON_SMS_GATEWAY
    if name == "http":
        return HttpJsonSmsGateway(url=settings.BLAZON_SMS_URL, token=settings.BLAZON_SMS_TOKEN)
    if name == "console":
        return ConsoleSmsGateway()
    return import_string(name)()

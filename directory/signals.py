"""Signals the directory sends for plumbing that is not domain flow.

``user_access_ended`` (``user=``, ``reason=``, ``actor=``, ``source=``): the user may no
longer log in (inactivated, revoked, removed or login-locked), sent inside the life-cycle
service's transaction; the web-session controls end the user's open sessions on it."""

from __future__ import annotations

from django.dispatch import Signal

user_access_ended = Signal()

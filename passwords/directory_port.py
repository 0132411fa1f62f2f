"""The password service as the directory sees it (``directory.ports.Passwords``), registered in
``PasswordsConfig.ready``: the directory checks a password against the policy and reports a
password it saved without importing this app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from passwords.services.change import PasswordChangeReason, password_policy_validate, password_recorded

if TYPE_CHECKING:
    from directory.models import User


class DirectoryPasswords:
    def password_policy_validate(self, user: User, password: str) -> None:
        password_policy_validate(user, password)

    def password_recorded_by_directory(
        self, *, user: User, actor: User | None, source: str, password: str, notify: bool
    ) -> None:
        password_recorded(
            user=user,
            actor=actor,
            source=source,
            password=password,
            reason=PasswordChangeReason.DIRECTORY,
            notify=notify,
        )

"""The passwords app's notifications, as outbox tasks (durable: written in the transaction that
changed the password or made the link, sent after it commits, retried if the mail server is
down). Neither carries a secret: the reset link's token is signed when the mail is sent."""

from __future__ import annotations

from blazon.tasks import blazon_task


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_password_changed(user_id: int, reason: str, when: str) -> int:
    """Tell a user their password was changed. Idempotent per outbox row: marked done once
    sent; a second delivery after a lost worker resends the same message (same Message-ID)."""
    # deferred: passwords.services imports this module to queue the task (an import cycle)
    from passwords.services.change import password_changed_mail_send

    return password_changed_mail_send(user_id, reason, when)


@blazon_task(atomic=False)  # an e-mail: marked done after it is sent, whatever the database does
def mail_reset_link(link_id: str, base_url: str) -> int:
    """E-mail a help-desk reset link. Idempotent per outbox row (same Message-ID on a second
    delivery); a link used or superseded meanwhile is not sent."""
    # deferred: passwords.services imports this module to queue the task (an import cycle)
    from passwords.services.change import reset_link_mail_send

    return reset_link_mail_send(link_id, base_url)

"""A user's own language preference (the screens and the e-mails they get): only they change it."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.errors import NotAllowed, ValidationFailed
from directory.models import User


@transaction.atomic
def user_language_set(*, actor: User, source: str, user: User, language: str) -> User:
    """Set ``user``'s language to one of ``settings.LANGUAGES`` (``""``: the browser's). A
    personal preference: nobody but the user changes it, not even an administrator."""
    codes = [code for code, _name in settings.LANGUAGES]
    if language not in ["", *codes]:
        raise ValidationFailed(
            _("Unknown language %(language)s: choose one of %(choices)s, or nothing for the browser's.")
            % {"language": repr(language), "choices": ", ".join(codes)},
            fields={"language": [_("Choose a language from the list.")]},
        )
    if actor is None or actor.pk != user.pk:
        raise NotAllowed(_("Only the user chooses their own language."))
    user = User.objects.select_for_update().get(pk=user.pk)
    old = user.language
    if old == language:
        return user
    user.language = language
    user.save(update_fields=["language"])
    audit_record(
        actor=actor,
        action="user.language_changed",
        obj=user,
        old={"language": old},
        new={"language": language},
        source=source,
        subject_user_id=user.pk,
    )
    return user

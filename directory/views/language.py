"""My language: the workspace's setting of the user's own language preference (the Profile panel
of the home page and the top bar's switcher post here)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from blazon.errors import DomainError
from blazon.language import language_cookie_sync
from directory.services.users.language import user_language_set
from directory.views.common import workspace_required


@workspace_required
@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """Save my language preference (one of ``settings.LANGUAGES``, or ``""`` for the browser's)
    and show the page I came from in it. Only ever the logged-in user's own preference."""
    chosen = request.POST.get("language", "")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
        back = ""
    response = HttpResponseRedirect(back or "/workspace/")
    if chosen not in ["", *dict(settings.LANGUAGES)]:
        messages.error(request, _("Choose a language from the list."))
        return response
    try:
        user = user_language_set(actor=request.user, source="workspace", user=request.user, language=chosen)
    except DomainError as exc:
        messages.error(request, str(exc))
        return response
    request.user.language = user.language
    translation.activate(user.language or translation.get_language_from_request(request))
    request.LANGUAGE_CODE = translation.get_language()
    language_cookie_sync(request, response, user.language)
    messages.success(request, _("Your language is saved."))
    return response

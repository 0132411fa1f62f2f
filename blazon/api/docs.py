"""ReDoc without the web fonts drf-spectacular's template loads from Google: Blazon runs
on-premise, often air-gapped, so the docs pages load nothing from other hosts. Both docs pages
keep to the Content-Security-Policy's script rules (blazon/csp.py: no inline script, Swagger UI's
init script is loaded from ``?script``); as their UIs insert style elements at run time, these two
pages alone allow inline styles."""

from __future__ import annotations

from django.http import HttpResponse
from django.template import engines
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from blazon.csp import allow_inline_styles

_REDOC = engines["django"].from_string(
    """<!DOCTYPE html>
<html>
  <head>
    <title>{{ title }}</title>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style nonce="{{ csp_nonce }}">body { margin: 0; padding: 0; }</style>
  </head>
  <body>
    <redoc spec-url="{{ schema_url }}"></redoc>
    <script src="{{ redoc_standalone }}"></script>
  </body>
</html>
"""
)


class LocalRedocView(SpectacularRedocView):
    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        context = {
            "title": self.title,
            "redoc_standalone": self._redoc_standalone(),
            "schema_url": self._get_schema_url(request),
        }
        # ReDoc's styled-components insert <style> elements at run time
        return allow_inline_styles(request, HttpResponse(_REDOC.render(context, request)))


class LocalSwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI with its init script served from ``?script`` instead of inline."""

    template_name = "api/swagger_ui.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        # Swagger UI's components set inline styles at run time
        return allow_inline_styles(request, super().get(request, *args, **kwargs))

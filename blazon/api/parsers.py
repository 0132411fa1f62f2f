"""The API's body parsers: DRF's JSON, form and multipart parsers, refusing (400 ``parse_error``)
a body with NUL characters, lone surrogates or JSON nested deeper than ``MAX_JSON_DEPTH`` levels,
before any view or serializer sees it (see ``blazon.safe_text``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import QueryDict
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from blazon.safe_text import MAX_JSON_DEPTH, query_problem, unsafe_text_problem


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json's C scanner recurses once per level: a body nested tens of thousands of levels
            # deep exhausts the stack before any of our checks can run.
            raise ParseError(
                _("The JSON is nested more than %(MAX_JSON_DEPTH)s levels deep, which is not allowed.")
                % {"MAX_JSON_DEPTH": MAX_JSON_DEPTH}
            ) from None
        problem = unsafe_text_problem(data)
        if problem:
            raise ParseError(problem)
        return data


class SafeFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        problem = query_problem(_pairs(data), "field")
        if problem:
            raise ParseError(problem)
        return data


class SafeMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        problem = query_problem(_pairs(result.data), "field")
        if problem:
            raise ParseError(problem)
        return result


def _pairs(querydict: QueryDict) -> Iterator[tuple[str, str]]:
    return ((name, value) for name, values in querydict.lists() for value in values)

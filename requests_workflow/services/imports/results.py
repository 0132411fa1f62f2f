"""The result file of an import run, safe to open in a spreadsheet."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from requests_workflow.models import ImportJob, ImportRow
from requests_workflow.services.imports.parse import FORMULA_START


def _cell(value: Any) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection): prefix with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


RESULT_HEADER = ("line", "status", "request_id", "request_status", "error")


def import_result_rows(job: ImportJob) -> Iterator[list[str]]:
    """The result file, line by line: the header, then one line per file line with what the run
    did (the request's current status read live). Streams from the database."""
    yield list(RESULT_HEADER)
    rows = (
        ImportRow.objects.filter(job=job)
        .order_by("line")
        .values_list("line", "status", "request_id", "request__status", "error")
        .iterator(chunk_size=2000)
    )
    for line, status, request_id, request_status, error in rows:
        yield [_cell(line), _cell(status), _cell(request_id or ""), _cell(request_status or ""), _cell(error)]

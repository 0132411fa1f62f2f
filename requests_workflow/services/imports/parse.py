"""Reading an import file: encoding, header, columns and lines (docs/import.md)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.utils.translation import gettext, ngettext

from blazon.errors import ValidationFailed
from directory.models import Source
from requests_workflow.models import RequestType
from requests_workflow.types import SPECS

SOURCE = Source.IMPORT
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
BATCH = 500
LOOKUP_CHUNK = 5_000

#: The columns every file may have; ``type`` is the only one every file must have.
BASE_COLUMNS = (
    "type",
    "beneficiary",
    "resource",
    "entitlement",
    "role",
    "account",
    "justification",
    "start_at",
    "end_at",
)
#: Payload columns: ``user.<field>`` (CREATE_USER), ``changes.<field>`` (UPDATE_USER),
#: ``attributes.<name>`` (UPDATE_ACCOUNT, CREATE_ACCOUNT) and ``identifier`` (CREATE_ACCOUNT).
PAYLOAD_PREFIXES = {
    "user": (RequestType.CREATE_USER,),
    "changes": (RequestType.UPDATE_USER,),
    "attributes": (RequestType.UPDATE_ACCOUNT, RequestType.CREATE_ACCOUNT),
}
PAYLOAD_COLUMNS = {"identifier": (RequestType.CREATE_ACCOUNT,)}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def importable_types() -> list[str]:
    """The type codes whose requests may come from an import, in the order of ``RequestType``."""
    return [code for code in RequestType.values if SOURCE in SPECS[code].sources]


@dataclass
class Line:
    """One data line of the file: its number and its values by column."""

    number: int
    values: dict[str, str]
    error: str = ""


@dataclass
class ParsedFile:
    columns: list[str]
    lines: list[Line]

    @property
    def types(self) -> list[str]:
        return sorted({ln.values.get("type", "") for ln in self.lines if ln.values.get("type")})


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationFailed(
            gettext(
                "The file is not UTF-8 text: byte 0x%(data)s on line %(line)s is not valid UTF-8. Save it as 'CSV UTF-8' (Excel, LibreOffice: character set Unicode UTF-8) and upload it again. Nothing was imported."
            )
            % {"data": f"{data[exc.start]:02x}", "line": line},
            fields={"file": [gettext("Not UTF-8.")]},
            code="bad_encoding",
        ) from None
    if "\x00" in text:
        raise ValidationFailed(
            gettext(
                "The file contains NUL characters: it is not a CSV text file (UTF-16 or a spreadsheet?). "
                "Save it as 'CSV UTF-8' and upload it again. Nothing was imported."
            ),
            fields={"file": [gettext("Not a CSV text file.")]},
            code="bad_encoding",
        )
    return text


def _column_error(message: str) -> ValidationFailed:
    return ValidationFailed(
        gettext("%(message)s Nothing was imported.") % {"message": message},
        fields={"file": [message]},
        code="bad_columns",
    )


def _check_columns(columns: list[str]) -> None:
    if not any(columns):
        raise _column_error(gettext("The first line must be the header (the column names); it is empty."))
    unknown = [
        c
        for c in columns
        if c not in BASE_COLUMNS
        and c not in PAYLOAD_COLUMNS
        and not (c.partition(".")[0] in PAYLOAD_PREFIXES and c.partition(".")[2])
    ]
    if unknown:
        raise _column_error(
            ngettext(
                "Unknown column %(values)s in the header. Columns: %(BASE_COLUMNS)s, identifier, and "
                "user.<field>, changes.<field>, attributes.<name> for the payload (see docs/import.md).",
                "Unknown columns %(values)s in the header. Columns: %(BASE_COLUMNS)s, identifier, and "
                "user.<field>, changes.<field>, attributes.<name> for the payload (see docs/import.md).",
                len(unknown),
            )
            % {
                "values": ", ".join(repr(c) for c in unknown),
                "BASE_COLUMNS": ", ".join(BASE_COLUMNS),
            }
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise _column_error(
            ngettext("Column %(repeated)s appear twice.", "Columns %(repeated)s appear twice.", len(repeated))
            % {"repeated": ", ".join(repeated)}
        )
    if "type" not in columns:
        raise _column_error(gettext("The header has no 'type' column; every line needs its request type."))


def import_parse(data: bytes) -> ParsedFile:
    """Decode and split the file; a file-level problem (encoding, header) raises
    ``ValidationFailed``, a line-level one (wrong number of values) is kept on the line."""
    if not data.strip(b"\xef\xbb\xbf \r\n\t"):
        raise ValidationFailed(
            gettext("The file is empty: it needs a header line and at least one request."),
            fields={"file": [gettext("Empty file.")]},
            code="empty_file",
        )
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            gettext("The file is larger than %(value)s MiB; split it.") % {"value": MAX_BYTES // 2**20},
            fields={"file": [gettext("Too large.")]},
        )
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, [])
        columns = [c.strip().lower() for c in header]
        _check_columns(columns)
        lines: list[Line] = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank line
            number = reader.line_num
            if len(lines) >= MAX_ROWS:
                raise ValidationFailed(
                    gettext("The file has more than %(MAX_ROWS)s requests; split it.")
                    % {"MAX_ROWS": f"{MAX_ROWS:,}"},
                    fields={"file": [gettext("Too many lines.")]},
                )
            if len(values) != len(columns):
                lines.append(
                    Line(
                        number,
                        {},
                        f"{len(values)} value{'s' if len(values) != 1 else ''} where the header has "
                        f"{len(columns)} columns.",
                    )
                )
                continue
            lines.append(Line(number, {c: v.strip() for c, v in zip(columns, values, strict=True)}))
    except csv.Error as exc:
        raise ValidationFailed(
            gettext("The file is not valid CSV on line %(line_num)s: %(exc)s. Nothing was imported.")
            % {"line_num": reader.line_num, "exc": exc},
            fields={"file": [str(exc)]},
            code="bad_csv",
        ) from None
    if not lines:
        raise ValidationFailed(
            gettext("The file has a header but no requests."),
            fields={"file": [gettext("No lines.")]},
            code="empty_file",
        )
    return ParsedFile(columns, lines)

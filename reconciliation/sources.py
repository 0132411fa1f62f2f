"""Reading a profile's source, row by row: an HR CSV export (UTF-8 or Latin-1, malformed rows
reported one by one) or an application through the provisioning connectors' read side
(``list_accounts``). Each row is a flat ``{field: text}``; a row that cannot be used is a
``RowProblem`` with its line and the reason, and a source that cannot be read at all raises
``SourceError`` (the run fails and changes nothing)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings

from provisioning.adapter.connectors import ConnectorError, connector_from_settings

READ_CHUNK = 1 << 16


class SourceError(Exception):
    """The source cannot be read (missing file, connector down, unreadable encoding)."""


@dataclass(frozen=True)
class SourceRow:
    row: int
    data: dict[str, str]


@dataclass(frozen=True)
class RowProblem:
    row: int
    key: str
    reason: str


def files_dir() -> Path:
    """Where CSV sources live (a profile names a path relative to it, never an absolute one)."""
    return Path(
        getattr(settings, "BLAZON_RECONCILIATION_DIR", None) or settings.BASE_DIR / "var" / "reconciliation"
    )


def csv_path(name: Any) -> Path:
    """The file a CSV profile reads; refused when it would leave ``files_dir()``."""
    text = str(name or "").strip()
    path = PurePosixPath(text)
    if not text or path.is_absolute() or ".." in path.parts:
        raise ValueError("file: a path relative to the reconciliation folder, without '..'.")
    return files_dir() / path


def _encoding(path: Path, wanted: str) -> str:
    """``wanted``, or for ``auto`` UTF-8 when the whole file decodes as UTF-8, else Latin-1
    (cp1252, the encoding of HR exports from Windows spreadsheets)."""
    if wanted and wanted != "auto":
        try:
            codecs.lookup(wanted)
        except LookupError:
            raise SourceError(f"Unknown encoding {wanted!r}.") from None
        return wanted
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def read_csv(source_settings: dict[str, Any]) -> Iterator[SourceRow | RowProblem]:
    try:
        path = csv_path(source_settings.get("file"))
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    if not path.is_file():
        raise SourceError(
            f"The file {source_settings.get('file')!r} does not exist in the reconciliation folder."
        )
    delimiter = str(source_settings.get("delimiter") or ",")
    if len(delimiter) != 1:
        raise SourceError("delimiter: one character.")
    encoding = _encoding(path, str(source_settings.get("encoding") or "auto"))
    try:
        handle = path.open(newline="", encoding=encoding, errors="strict")
    except OSError as exc:
        raise SourceError(f"Cannot open {path.name}: {exc}") from None
    with handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise SourceError(f"{path.name} is empty: not even a header line.") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SourceError(f"{path.name}: the header cannot be read ({exc}).") from None
        if not any(header) or len(set(header)) != len(header):
            raise SourceError(f"{path.name}: the header must name every column once.")
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RowProblem(reader.line_num, "", f"Malformed CSV: {exc}.")
                continue
            except UnicodeDecodeError as exc:
                raise SourceError(f"{path.name} is not {encoding} text ({exc.reason}).") from None
            if not values or not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield RowProblem(
                    reader.line_num, values[0] if values else "",
                    f"Expected {len(header)} columns, found {len(values)}.",
                )  # fmt: skip
                continue
            yield SourceRow(reader.line_num, {h: v.strip() for h, v in zip(header, values, strict=True)})


def read_connector(
    source_type: str, source_settings: dict[str, Any], secrets: dict[str, str], *, entitlements: bool = False
) -> Iterator[SourceRow | RowProblem]:
    try:
        connector = connector_from_settings({**source_settings, **secrets, "type": source_type})
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"The {source_type} connector refuses its settings: {exc}") from None
    try:
        if entitlements:  # groups and roles: identifier, name, members (remote ids, ";"-joined)
            for number, group in enumerate(connector.list_entitlements(), start=1):
                yield SourceRow(number, {
                    "identifier": str(group.get("identifier") or ""), "name": str(group.get("name") or ""),
                    "remote_id": str(group.get("remote_id") or ""),
                    "members": ";".join(str(m) for m in group.get("members") or []),
                })  # fmt: skip
            return
        for number, item in enumerate(connector.list_accounts(), start=1):
            data: dict[str, str] = {}
            for name, value in (item.get("attributes") or {}).items():
                data[str(name)] = "" if value is None else str(value)
            data["identifier"] = str(item.get("identifier") or "")
            data["remote_id"] = str(item.get("remote_id") or "")
            data["enabled"] = "true" if item.get("enabled", True) else "false"
            yield SourceRow(number, data)
    except ConnectorError as exc:
        raise SourceError(f"The {source_type} source cannot be read: {exc}") from None
    finally:
        connector.close()


def read_source(
    source_type: str, source_settings: dict[str, Any], secrets: dict[str, str], *, entitlements: bool = False
) -> Iterator[SourceRow | RowProblem]:
    if source_type == "csv":
        return read_csv(source_settings)
    return read_connector(source_type, source_settings, secrets, entitlements=entitlements)


def csv_text_rows(text: str) -> list[dict[str, str]]:
    """The rows of a small CSV text (the console's sample row for testing an expression)."""
    return [dict(r) for r in csv.DictReader(io.StringIO(text))]

"""Bulk writing helpers shared by the services that write many rows at once.

``copy_rows`` streams rows into a table: on PostgreSQL through ``COPY … FROM STDIN`` (an order
of magnitude faster than multi-row INSERTs for 100,000 rows: no SQL text to build or parse,
no per-row Python model objects), elsewhere (the embedded SQLite) through ``executemany``.
Rows are plain tuples in the order of ``columns``; JSON columns take already-serialised text.
It writes in the caller's transaction and returns the number of rows written.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

CHUNK = 5000


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    qn = connection.ops.quote_name
    cols = ", ".join(qn(c) for c in columns)
    count = 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {qn(table)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count
    sql = f"INSERT INTO {qn(table)} ({cols}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608 (internal names, quoted)
    batch: list[Sequence[Any]] = []
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for row in rows:
            batch.append([adapt(v) if isinstance(v, datetime.datetime) else v for v in row])
            if len(batch) >= CHUNK:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def update_rows(table: str, key: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Update ``columns`` of the rows whose ``key`` is each row's first value (``rows`` are
    ``(key, *values)`` tuples in the order of ``columns``). On PostgreSQL one ``UPDATE … FROM`` a
    temporary table filled by ``COPY`` (``bulk_update``'s ``CASE WHEN`` per row and column is
    quadratic in the batch: 90 s for 10,000 rows of five columns); elsewhere ``executemany``."""
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        temp = qn(f"_update_{table}")
        with connection.cursor() as cursor:
            # same column types as the table, no rows, gone at the end of the transaction
            cursor.execute(
                f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS "  # noqa: S608 (internal names, quoted)
                f"SELECT {', '.join(qn(c) for c in [key, *columns])} FROM {qn(table)} WITH NO DATA"
            )
        count = copy_rows(f"_update_{table}", [key, *columns], rows)
        sets = ", ".join(f"{qn(c)} = u.{qn(c)}" for c in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {qn(table)} SET {sets} FROM {temp} u WHERE {qn(table)}.{qn(key)} = u.{qn(key)}"  # noqa: S608
            )
            cursor.execute(f"DROP TABLE {temp}")
        return count
    sets = ", ".join(f"{qn(c)} = %s" for c in columns)
    sql = f"UPDATE {qn(table)} SET {sets} WHERE {qn(key)} = %s"  # noqa: S608 (internal names, quoted)
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        [adapt(v) if isinstance(v, datetime.datetime) else v for v in (*row[1:], row[0])] for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)

"""Fill ``ProvisioningEntry.request`` / ``rollback_of`` for the entries written before the typed
link existed, from the correlation ids the pipeline gave them (``request-42`` for stage 4,
``request-42-rollback`` for the rollback). Only those exact shapes count, and only when the
request exists: any other correlation id (a client's ``X-Correlation-ID``, a log tag) links
nothing. Here, not in provisioning: the shape is the request pipeline's own convention."""

import re

from django.db import migrations

# (column, pattern); at most 18 digits: a longer number is no bigint, so no request id.
SHAPES = (
    ("request_id", r"^request-([0-9]{1,18})$"),
    ("rollback_of_id", r"^request-([0-9]{1,18})-rollback$"),
)


def backfill(apps, schema_editor):
    Entry = apps.get_model("provisioning", "ProvisioningEntry")
    Request = apps.get_model("requests_workflow", "Request")
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        entries = connection.ops.quote_name(Entry._meta.db_table)
        requests = connection.ops.quote_name(Request._meta.db_table)
        with connection.cursor() as cursor:
            for column, pattern in SHAPES:
                # one statement per shape, whatever the number of entries
                cursor.execute(
                    f"""UPDATE {entries} AS e SET {column} = r.id FROM {requests} AS r
                        WHERE e.correlation_id ~ %s
                          AND r.id = split_part(e.correlation_id, '-', 2)::bigint""",  # noqa: S608
                    [pattern],
                )
        return
    cids = list(
        Entry.objects.filter(correlation_id__startswith="request-").values_list("correlation_id", flat=True).distinct()
    )
    for column, pattern in SHAPES:
        by_request: dict[int, list[str]] = {}
        for cid in cids:
            match = re.match(pattern, cid)
            if match:
                by_request.setdefault(int(match.group(1)), []).append(cid)
        for request_id in Request.objects.filter(pk__in=by_request).values_list("pk", flat=True):
            Entry.objects.filter(correlation_id__in=by_request[request_id]).update(**{column: request_id})


class Migration(migrations.Migration):
    dependencies = [
        ("requests_workflow", "0006_worklist_moved"),
        ("provisioning", "0006_entry_request_link"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

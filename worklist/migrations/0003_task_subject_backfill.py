"""Give every existing task its typed subject link (``subject_kind``, ``subject_id``).

* a manual provisioning task is about the provisioning entry that points at it
  (``ProvisioningEntry.manual_task``): ("provisioning_entry", entry id);
* any other task of a request (approval, SoD) is about the request: ("request", request id).

A manual provisioning task no entry points at any more (the console's retry canceled it and
released the entry) keeps no subject: nothing in the data says which entry it was for, and the
task is closed. Set-based: two UPDATEs whatever the number of tasks. The subject kinds are the
ones ``requests_workflow`` and ``provisioning`` register (worklist.registry); reading the
provisioning table here is data history, not an import (migrations hold no code of the apps).
"""

from django.db import migrations
from django.db.models import F, OuterRef, Subquery


def backfill(apps, schema_editor):
    Task = apps.get_model("worklist", "Task")
    Entry = apps.get_model("provisioning", "ProvisioningEntry")
    entry_of_task = Entry.objects.filter(manual_task_id=OuterRef("pk")).order_by("pk").values("pk")[:1]
    Task.objects.filter(kind="PROVISIONING", subject_kind="").filter(
        pk__in=Entry.objects.filter(manual_task__isnull=False).values("manual_task_id")
    ).update(subject_kind="provisioning_entry", subject_id=Subquery(entry_of_task))
    Task.objects.exclude(kind="PROVISIONING").filter(subject_kind="", request__isnull=False).update(
        subject_kind="request", subject_id=F("request_id")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("worklist", "0002_task_subject"),
        ("provisioning", "0006_entry_request_link"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

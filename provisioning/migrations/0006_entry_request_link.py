"""The typed link from a provisioning entry to its request (``request``) or to the request it
rolls back (``rollback_of``). The request app fills it for the entries written before
(``requests_workflow`` migration 0007)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0005_worklist_manual_task"),
        ("requests_workflow", "0006_worklist_moved"),
    ]

    operations = [
        migrations.AddField(
            model_name="provisioningentry",
            name="request",
            field=models.ForeignKey(
                blank=True,
                help_text="The request this entry carries out; its outcome settles the request.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="provisioning_entries",
                to="requests_workflow.request",
            ),
        ),
        migrations.AddField(
            model_name="provisioningentry",
            name="rollback_of",
            field=models.ForeignKey(
                blank=True,
                help_text="The failed request whose directory change this entry undoes; it settles nothing.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="rollback_entries",
                to="requests_workflow.request",
            ),
        ),
        migrations.AlterField(
            model_name="provisioningentry",
            name="correlation_id",
            field=models.CharField(
                blank=True,
                help_text="Trace tag of the call that wrote the entry (logs, audit); never used to find its request.",
                max_length=64,
            ),
        ),
    ]

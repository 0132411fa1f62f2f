"""The manual task of an entry is a worklist task now (the model moved; its table did not):
state only."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0004_adapter_credentials_and_inprocess_adapters"),
        ("worklist", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="provisioningentry",
                    name="manual_task",
                    field=models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="provisioning_entry",
                        to="worklist.task",
                    ),
                ),
            ],
        ),
    ]

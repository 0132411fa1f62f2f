"""The worklist models (queues, tasks, task definitions, calendars, escalation) moved to the
worklist app: remove them from this app's state only. Their tables stay as they are (the
worklist models keep the same ``db_table``); see worklist.0001_initial."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("requests_workflow", "0005_merge_task_sla"),
        ("worklist", "0001_initial"),
        ("provisioning", "0005_worklist_manual_task"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name="taskdefinition",
                    name="calendar",
                ),
                migrations.RemoveField(
                    model_name="holiday",
                    name="calendar",
                ),
                migrations.RemoveField(
                    model_name="taskdefinition",
                    name="escalation_policy",
                ),
                migrations.RemoveField(
                    model_name="escalationstep",
                    name="policy",
                ),
                migrations.RemoveField(
                    model_name="escalationstep",
                    name="queue",
                ),
                migrations.RemoveField(
                    model_name="escalationstep",
                    name="users",
                ),
                migrations.RemoveField(
                    model_name="taskescalation",
                    name="step",
                ),
                migrations.RemoveField(
                    model_name="queue",
                    name="members",
                ),
                migrations.AlterField(
                    model_name="approvallevel",
                    name="queue",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="worklist.queue",
                    ),
                ),
                migrations.RemoveField(
                    model_name="task",
                    name="queue",
                ),
                migrations.RemoveField(
                    model_name="task",
                    name="assignees",
                ),
                migrations.RemoveField(
                    model_name="task",
                    name="decided_by",
                ),
                migrations.RemoveField(
                    model_name="task",
                    name="definition",
                ),
                migrations.RemoveField(
                    model_name="task",
                    name="on_behalf_of",
                ),
                migrations.RemoveField(
                    model_name="task",
                    name="request",
                ),
                migrations.RemoveField(
                    model_name="taskescalation",
                    name="task",
                ),
                migrations.DeleteModel(
                    name="Calendar",
                ),
                migrations.DeleteModel(
                    name="Holiday",
                ),
                migrations.DeleteModel(
                    name="EscalationPolicy",
                ),
                migrations.DeleteModel(
                    name="EscalationStep",
                ),
                migrations.DeleteModel(
                    name="Queue",
                ),
                migrations.DeleteModel(
                    name="TaskDefinition",
                ),
                migrations.DeleteModel(
                    name="Task",
                ),
                migrations.DeleteModel(
                    name="TaskEscalation",
                ),
            ],
        ),
    ]

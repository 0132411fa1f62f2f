"""The worklist models move here from requests_workflow, tables and rows untouched.

The models keep their tables (``db_table = "requests_workflow_*"``), so this migration only
changes Django's state (``SeparateDatabaseAndState`` with no database operation): no table,
index, constraint or row is rewritten, nothing is locked. requests_workflow.0006 removes the
same models from its own state; provisioning.0005 points the manual task link here.
The content types (and so the permissions) of the moved models follow them.
"""

import datetime
import django.db.models.deletion
import worklist.models
from django.conf import settings
from django.db import migrations, models


MOVED_MODELS = (
    "queue",
    "task",
    "calendar",
    "holiday",
    "escalationpolicy",
    "escalationstep",
    "taskdefinition",
    "taskescalation",
)


def _move_content_types(apps, schema_editor, source="requests_workflow", target="worklist"):
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED_MODELS:
        if content_type.objects.using(db).filter(app_label=target, model=model).exists():
            continue
        content_type.objects.using(db).filter(app_label=source, model=model).update(app_label=target)


def _move_content_types_back(apps, schema_editor):
    _move_content_types(apps, schema_editor, source="worklist", target="requests_workflow")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('requests_workflow', '0005_merge_task_sla'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='EscalationPolicy',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200, unique=True)),
                        ('description', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'verbose_name_plural': 'escalation policies',
                        'db_table': 'requests_workflow_escalationpolicy',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='Calendar',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200, unique=True)),
                        ('timezone', models.CharField(default='UTC', help_text='IANA time zone, e.g. Europe/Lisbon.', max_length=64)),
                        ('working_days', models.JSONField(default=worklist.models._default_working_days, help_text='Working weekdays, 0 = Monday … 6 = Sunday.')),
                        ('day_start', models.TimeField(default=datetime.time(9, 0), help_text='Working day starts (local time).')),
                        ('day_end', models.TimeField(default=datetime.time(18, 0), help_text='Working day ends (local time).')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'requests_workflow_calendar',
                        'ordering': ['name'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('day_end__gt', models.F('day_start'))), name='calendar_day_ordered')],
                    },
                ),
                migrations.CreateModel(
                    name='Queue',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200, unique=True)),
                        ('description', models.TextField(blank=True)),
                        ('members', models.ManyToManyField(blank=True, related_name='task_queues', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'requests_workflow_queue',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='EscalationStep',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.PositiveSmallIntegerField(help_text='1, 2, …: the order the steps are listed in.')),
                        ('after_hours', models.PositiveIntegerField(help_text='Business hours after the task was opened.')),
                        ('action', models.CharField(choices=[('REMIND', 'Remind the current assignees'), ('ESCALATE_MANAGER', 'Escalate to the manager'), ('ESCALATE_QUEUE', 'Escalate to a queue'), ('ESCALATE_NEXT_APPROVER', 'Escalate to the next approver'), ('ESCALATE_USERS', 'Escalate to named users')], max_length=22)),
                        ('keep_assignees', models.BooleanField(default=True, help_text='Escalation adds the new resolvers; unticked, they replace the current ones.')),
                        ('policy', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='worklist.escalationpolicy')),
                        ('users', models.ManyToManyField(blank=True, help_text='ESCALATE_USERS; ESCALATE_NEXT_APPROVER when there is no next approval level.', related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('queue', models.ForeignKey(blank=True, help_text='ESCALATE_QUEUE.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='worklist.queue')),
                    ],
                    options={
                        'db_table': 'requests_workflow_escalationstep',
                        'ordering': ['policy_id', 'after_hours', 'position'],
                    },
                ),
                migrations.CreateModel(
                    name='TaskDefinition',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200, unique=True)),
                        ('active', models.BooleanField(default=True)),
                        ('priority', models.PositiveIntegerField(default=100, help_text='Lower wins among equally specific matches.')),
                        ('task_kind', models.CharField(choices=[('APPROVAL', 'Approval'), ('SOD', 'Segregation of duties'), ('PROVISIONING', 'Provisioning'), ('CERTIFICATION', 'Certification'), ('ROLE_CHANGE', 'Role change')], max_length=15)),
                        ('request_types', models.JSONField(blank=True, default=list, help_text='Type codes; empty = every type.')),
                        ('criticality', models.CharField(blank=True, choices=[('LOW', 'Low'), ('MEDIUM', 'Medium'), ('HIGH', 'High'), ('CRITICAL', 'Critical')], help_text='Empty = any criticality.', max_length=10)),
                        ('sla_hours', models.PositiveIntegerField(help_text='Business hours to resolve the task.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('calendar', models.ForeignKey(blank=True, help_text='Empty: plain clock hours, every day.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='definitions', to='worklist.calendar')),
                        ('escalation_policy', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='definitions', to='worklist.escalationpolicy')),
                    ],
                    options={
                        'db_table': 'requests_workflow_taskdefinition',
                        'ordering': ['task_kind', 'priority', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='Task',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('APPROVAL', 'Approval'), ('SOD', 'Segregation of duties'), ('PROVISIONING', 'Provisioning'), ('CERTIFICATION', 'Certification'), ('ROLE_CHANGE', 'Role change')], max_length=15)),
                        ('level', models.PositiveSmallIntegerField(default=1)),
                        ('mode', models.CharField(choices=[('ANY', 'Any one approver'), ('ALL', 'All approvers')], default='ANY', max_length=3)),
                        ('status', models.CharField(choices=[('OPEN', 'Open'), ('APPROVED', 'Approved'), ('REJECTED', 'Rejected'), ('CANCELED', 'Canceled')], default='OPEN', max_length=10)),
                        ('title', models.CharField(blank=True, max_length=300)),
                        ('comment', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('decided_at', models.DateTimeField(blank=True, null=True)),
                        ('due_at', models.DateTimeField(blank=True, help_text='When the SLA of its task definition says it must be done.', null=True)),
                        ('next_escalation_at', models.DateTimeField(blank=True, help_text='When the escalation sweep must look at this task next (empty: nothing left to run).', null=True)),
                        ('assignees', models.ManyToManyField(blank=True, related_name='tasks', to=settings.AUTH_USER_MODEL)),
                        ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('on_behalf_of', models.ForeignKey(blank=True, help_text='Set when ``decided_by`` decided as the out-of-office delegate of this assignee.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('queue', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='tasks', to='worklist.queue')),
                        ('request', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='requests_workflow.request')),
                        ('definition', models.ForeignKey(blank=True, help_text='The task definition (SLA) that applied when the task was opened.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='tasks', to='worklist.taskdefinition')),
                    ],
                    options={
                        'db_table': 'requests_workflow_task',
                        'ordering': ['-id'],
                    },
                ),
                migrations.CreateModel(
                    name='TaskEscalation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('action', models.CharField(choices=[('REMIND', 'Remind the current assignees'), ('ESCALATE_MANAGER', 'Escalate to the manager'), ('ESCALATE_QUEUE', 'Escalate to a queue'), ('ESCALATE_NEXT_APPROVER', 'Escalate to the next approver'), ('ESCALATE_USERS', 'Escalate to named users')], max_length=22)),
                        ('detail', models.TextField(blank=True, help_text='What the step did (who was reminded or added).')),
                        ('ran_at', models.DateTimeField(auto_now_add=True)),
                        ('step', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='runs', to='worklist.escalationstep')),
                        ('task', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='escalations', to='worklist.task')),
                    ],
                    options={
                        'db_table': 'requests_workflow_taskescalation',
                        'ordering': ['task_id', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='Holiday',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('date', models.DateField()),
                        ('name', models.CharField(max_length=200)),
                        ('calendar', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='holidays', to='worklist.calendar')),
                    ],
                    options={
                        'db_table': 'requests_workflow_holiday',
                        'ordering': ['calendar_id', 'date'],
                        'constraints': [models.UniqueConstraint(fields=('calendar', 'date'), name='holiday_unique_date')],
                    },
                ),
                migrations.AddConstraint(
                    model_name='escalationstep',
                    constraint=models.UniqueConstraint(fields=('policy', 'position'), name='escalation_step_unique_position'),
                ),
                migrations.AddConstraint(
                    model_name='escalationstep',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('action', 'ESCALATE_QUEUE'), _negated=True), ('queue__isnull', False), _connector='OR'), name='escalation_step_queue_set'),
                ),
                migrations.AddConstraint(
                    model_name='escalationstep',
                    constraint=models.CheckConstraint(condition=models.Q(('after_hours__gte', 1)), name='escalation_step_after_positive'),
                ),
                migrations.AddIndex(
                    model_name='taskdefinition',
                    index=models.Index(fields=['task_kind', 'active'], name='requests_wo_task_ki_5efcfd_idx'),
                ),
                migrations.AddConstraint(
                    model_name='taskdefinition',
                    constraint=models.CheckConstraint(condition=models.Q(('sla_hours__gte', 1)), name='task_definition_sla_positive'),
                ),
                migrations.AddIndex(
                    model_name='task',
                    index=models.Index(fields=['status', 'kind'], name='requests_wo_status_4d2940_idx'),
                ),
                migrations.AddIndex(
                    model_name='task',
                    index=models.Index(fields=['request', 'level', 'status'], name='requests_wo_request_b6656c_idx'),
                ),
                migrations.AddIndex(
                    model_name='task',
                    index=models.Index(fields=['queue', 'status'], name='requests_wo_queue_i_2f13cf_idx'),
                ),
                migrations.AddIndex(
                    model_name='task',
                    index=models.Index(fields=['due_at'], name='requests_wo_due_at_e2784b_idx'),
                ),
                migrations.AddIndex(
                    model_name='task',
                    index=models.Index(condition=models.Q(('next_escalation_at__isnull', False), ('status', 'OPEN')), fields=['next_escalation_at'], name='task_escalation_due'),
                ),
                migrations.AddConstraint(
                    model_name='taskescalation',
                    constraint=models.UniqueConstraint(fields=('task', 'step'), name='task_escalation_once'),
                ),
            ],
        ),
        migrations.RunPython(_move_content_types, _move_content_types_back),
    ]

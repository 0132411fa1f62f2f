"""The demo company's privileged access: the production DBA group and a request in each status."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from privileged.models import AccessGroup, AccessRequest, AccessStatus
from worklist.models import Task, TaskKind, TaskStatus


def test_the_demo_has_a_production_dba_group_and_every_status(postgres):
    out = StringIO()
    call_command("load_demo", users=40, seed=7, stdout=out, stderr=out)
    assert "warning" not in out.getvalue()
    group = AccessGroup.objects.get(code="prod-dba")
    assert group.levels.count() == 2 and group.governance_code_required and group.emergency_allowed
    assert group.credentials.count() == 2
    assert set(AccessRequest.objects.values_list("status", flat=True)) == set(AccessStatus.values)
    emergency = AccessRequest.objects.get(emergency=True)
    assert emergency.status == AccessStatus.APPROVED
    assert Task.objects.filter(
        kind=TaskKind.ACCESS_REVIEW, status=TaskStatus.OPEN, subject_id=emergency.pk
    ).exists()

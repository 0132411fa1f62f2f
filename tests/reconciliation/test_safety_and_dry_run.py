"""Dry runs change nothing and show what would happen; a run that would inactivate more than
the profile's safety share waits for an administrator's confirmation; ties are conflicts that
become tasks, never guesses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, NotAllowed, TransitionNotAllowed, ValidationFailed
from directory.models import User, UserStatus
from reconciliation.models import CaseStatus, ReconciliationCase, RunStatus, StagedRow
from reconciliation.services import runs as runs_module
from reconciliation.services.cases import case_resolve
from reconciliation.services.runs import run_and_execute, run_cancel, run_confirm, run_create, run_execute
from tests.api.factories import UserFactory
from tests.reconciliation.conftest import HR_HEADER, hr_profile, write
from worklist.models import Task, TaskKind, TaskStatus
from worklist.services import task_decide

pytestmark = pytest.mark.django_db
ALL = "E1,Ana,Souza,ana@corp.test,Sales,Rep\nE2,Bruno,Lima,bruno@corp.test,IT,Dev\nE3,Carla,Dias,carla@corp.test,HR,Partner\n"


def linked_profile(people, files, **extra):
    write(files / "hr.csv", HR_HEADER + ALL)
    profile = hr_profile(people["admin"], **extra)
    assert (
        run_and_execute(actor=people["admin"], source="console", profile=profile).status
        == RunStatus.SUCCEEDED
    )
    return profile


def test_dry_run_counts_and_samples_and_changes_nothing(people, files):
    profile = linked_profile(people, files, safety_share=50)
    write(files / "hr.csv", HR_HEADER + "E1,Ana,Souza,ana@corp.test,Marketing,Rep\nE2,Bruno,Lima,bruno@corp.test,IT,Dev\n"
          "E4,José,Araújo,jose@corp.test,Finance,Analyst\n")  # fmt: skip
    users_before = list(User.objects.order_by("pk").values_list("pk", "department", "status"))
    events_before = AuditEvent.objects.filter(action__startswith="user.").count()
    run = run_and_execute(actor=people["admin"], source="console", profile=profile, dry_run=True)
    assert run.status == RunStatus.SUCCEEDED and run.dry_run
    assert run.situations == {"FOUND": 2, "NOT_FOUND": 1, "MISSING": 1}
    assert run.actions == {"UPDATE": 1, "NONE": 1, "CREATE": 1, "INACTIVATE": 1}
    assert [s["key"] for s in run.samples["NOT_FOUND"]] == ["E4"]
    assert run.samples["NOT_FOUND"][0]["data"]["first_name"] == "José"
    assert list(User.objects.order_by("pk").values_list("pk", "department", "status")) == users_before
    assert AuditEvent.objects.filter(action__startswith="user.").count() == events_before


def test_safety_stop_waits_for_confirmation(people, files):
    profile = linked_profile(people, files)  # 5 %: one leaver of three is too many
    write(files / "hr.csv", HR_HEADER)  # a broken export: nobody left
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.WAITING_CONFIRMATION
    assert run.destructive == 3 and run.population == 3
    assert "more than the profile's safety limit of 5.00 %" in run.error
    assert not User.objects.filter(status=UserStatus.INACTIVE).exists()
    with pytest.raises(Conflict):  # no second run while one waits
        run_and_execute(actor=people["admin"], source="console", profile=profile)
    with pytest.raises(NotAllowed):
        run_confirm(actor=people["auditor"], source="console", run=run)
    run_confirm(actor=people["admin"], source="console", run=run)
    run = run_execute(run.pk)
    assert run.status == RunStatus.SUCCEEDED
    assert run.confirmed_by == people["admin"]
    assert User.objects.filter(status=UserStatus.INACTIVE).count() == 3


def test_a_stopped_run_can_be_canceled(people, files):
    profile = linked_profile(people, files)
    write(files / "hr.csv", HR_HEADER)
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    run_cancel(actor=people["admin"], source="console", run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    with pytest.raises(TransitionNotAllowed):
        run_confirm(actor=people["admin"], source="console", run=run)
    assert not User.objects.filter(status=UserStatus.INACTIVE).exists()


def test_a_tie_is_a_conflict_task_resolved_in_one_click(people, files):
    twin = UserFactory(username="ana.other", first_name="Ana", last_name="Souza", email="ana2@corp.test")
    write(files / "hr.csv", HR_HEADER + "E20,Ana,Souza,x@corp.test,Sales,Rep\n")
    profile = hr_profile(
        people["admin"],
        rules=[{"attribute": "first_name", "operator": "IEQUALS", "value": "{[first_name]}"}],
    )
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.situations == {"CONFLICT": 1} and run.actions == {"MANUAL": 1}
    case = ReconciliationCase.objects.get()
    assert case.status == CaseStatus.OPEN and sorted(case.candidates) == sorted([people["ana"].pk, twin.pk])
    task = Task.objects.get(pk=case.task_id)
    assert task.kind == TaskKind.RECONCILIATION and task.subject_kind == "reconciliation_case"
    assert task.subject_label == "HR export: entry conflict — E20"
    # a second run does not open a second task for the same row
    run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert Task.objects.filter(kind=TaskKind.RECONCILIATION).count() == 1
    with pytest.raises(NotAllowed):
        case_resolve(
            actor=people["auditor"], source="console", case=case, resolution="link", candidate=twin.pk
        )
    case_resolve(actor=people["admin"], source="console", case=case, resolution="link", candidate=twin.pk)
    case.refresh_from_db()
    task.refresh_from_db()
    assert case.status == CaseStatus.RESOLVED and case.resolution == "linked to ana.other"
    assert task.status == TaskStatus.APPROVED
    assert profile.links.get(key="E20").user == twin


def test_a_run_interrupted_while_applying_resumes_without_applying_a_row_twice(people, files, monkeypatch):
    write(
        files / "hr.csv",
        HR_HEADER + "E41,Rita,Luz,rita@corp.test,IT,Dev\nE42,Caio,Reis,caio@corp.test,IT,Dev\n",
    )
    profile = hr_profile(people["admin"])
    run = run_create(actor=people["admin"], source="console", profile=profile)
    real, calls = runs_module._apply_row, []

    def dies_after_one(*args, **kwargs):
        if calls:
            raise SystemExit("worker killed")
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs_module, "_apply_row", dies_after_one)
    with pytest.raises(SystemExit):
        run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.APPLYING and User.objects.filter(attributes__employee_id="E41").exists()
    assert not User.objects.filter(attributes__employee_id="E42").exists()
    monkeypatch.setattr(runs_module, "_apply_row", real)
    run = run_execute(run.pk)  # the outbox hands the task out again
    assert run.status == RunStatus.SUCCEEDED
    assert User.objects.filter(attributes__employee_id__in=["E41", "E42"]).count() == 2  # E41 once
    assert not StagedRow.objects.filter(run=run).exists()


def test_the_worklist_decides_a_reconciliation_task_through_the_registered_hook(people, files):
    write(
        files / "hr.csv",
        HR_HEADER + "E50,Nina,Costa,nina@corp.test,IT,Dev\nE51,Otto,Lang,otto@corp.test,IT,Dev\n",
    )
    profile = hr_profile(people["admin"], actions={"NOT_FOUND": "MANUAL"})
    run_and_execute(actor=people["admin"], source="console", profile=profile)
    nina, otto = (ReconciliationCase.objects.get(key=k) for k in ("E50", "E51"))
    with pytest.raises(ValidationFailed):  # approving needs a resolution
        task_decide(actor=people["admin"], source="api", task=nina.task, decision="approve")
    task_decide(actor=people["admin"], source="api", task=nina.task, decision="approve", resolution="create")
    task_decide(
        actor=people["admin"], source="api", task=otto.task, decision="reject", comment="Not hired after all."
    )
    nina.refresh_from_db()
    otto.refresh_from_db()
    assert nina.status == otto.status == CaseStatus.RESOLVED
    assert User.objects.filter(attributes__employee_id="E50").exists()
    assert not User.objects.filter(attributes__employee_id="E51").exists()
    assert otto.resolution == "dismissed" and Task.objects.get(pk=otto.task_id).status == TaskStatus.REJECTED


def test_a_run_being_applied_shows_its_progress_and_eta(people, files):
    profile = hr_profile(people["admin"])
    run = run_create(actor=people["admin"], source="console", profile=profile)
    run.status, run.rows_total, run.rows_done = RunStatus.APPLYING, 40, 10
    run.planned_at = timezone.now() - timedelta(seconds=20)
    assert run.progress == 25 and 59 <= run.eta_seconds <= 62
    run.status = RunStatus.SUCCEEDED
    assert run.progress == 100 and run.eta_seconds is None

"""A task points at what it is about through a typed link (``subject_kind``, ``subject_id``),
resolved through the subject kinds the owning apps register — never free text: an approval task
resolves to its request, a list of tasks loads its subjects with one query per kind, a link to an
unregistered kind is refused, the database refuses half a link, and the data migration gives
existing tasks their link."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from directory.models import ConsoleRole
from requests_workflow.models import Request
from requests_workflow.services.requests import request_create
from requests_workflow.subjects import REQUEST_SUBJECT
from tests.api.factories import EntitlementFactory, ResourceFactory, UserFactory
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory
from worklist.models import Task, TaskKind
from worklist.registry import SubjectRef, subject_kind, subject_ref_text
from worklist.selectors import tasks_subjects_attach
from worklist.services import task_open

pytestmark = pytest.mark.django_db


@pytest.fixture
def approval_request(django_capture_on_commit_callbacks) -> Request:
    """A GRANT_ENTITLEMENT request waiting for its named approver."""
    approver = UserFactory(username="approver")
    policy = ApprovalPolicyFactory(name="Named approver", request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, approver_kind="USERS").users.add(approver)
    admin = UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    payroll = ResourceFactory(code="payroll", name="Payroll")
    entitlement = EntitlementFactory(resource=payroll, identifier="pay-run", name="Pay run")
    with django_capture_on_commit_callbacks(execute=True):
        req = request_create(
            actor=admin,
            source="api",
            request_type="GRANT_ENTITLEMENT",
            beneficiary=UserFactory(username="bea"),
            entitlement=entitlement,
            justification="month-end",
        )
    return req


def test_an_approval_task_is_linked_to_its_request_and_resolves_to_it(approval_request):
    task = Task.objects.get(request=approval_request, kind=TaskKind.APPROVAL)
    assert (task.subject_kind, task.subject_id) == (REQUEST_SUBJECT, approval_request.pk)
    assert task.subject_ref == SubjectRef("request", approval_request.pk)
    assert task.subject == approval_request
    assert task.subject_label == "Pay run (Payroll)"
    assert subject_ref_text(task.subject_ref) == f"Request #{approval_request.pk}"
    assert subject_kind("request").console_url(task.subject) == f"/console/requests/{approval_request.pk}/"


def test_a_list_loads_its_subjects_with_one_query_per_kind(approval_request, django_assert_max_num_queries):
    for n in range(3):
        task_open(
            kind=TaskKind.SOD,
            title=f"conflict {n}",
            request=approval_request,
            subject=SubjectRef("request", approval_request.pk),
        )
    task_open(kind=TaskKind.APPROVAL, title="about nothing")
    tasks = list(Task.objects.order_by("id"))
    with django_assert_max_num_queries(1):
        tasks_subjects_attach(tasks)
        labels = [t.subject_label for t in tasks]
    assert labels == ["Pay run (Payroll)"] * 4 + ["about nothing"]


def test_a_subject_gone_or_of_an_unknown_kind_resolves_to_nothing(approval_request):
    task = Task.objects.get(request=approval_request, kind=TaskKind.APPROVAL)
    Task.objects.filter(pk=task.pk).update(subject_id=approval_request.pk + 1000)
    gone = Task.objects.get(pk=task.pk)
    assert gone.subject is None and gone.subject_label == gone.title
    with pytest.raises(ValueError, match="Unknown task subject kind"):
        task_open(kind=TaskKind.APPROVAL, title="x", subject=SubjectRef("certification_item", 3))
    assert not Task.objects.filter(title="x").exists()


def test_the_database_refuses_half_a_link():
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(kind=TaskKind.APPROVAL, subject_kind="request")
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(kind=TaskKind.APPROVAL, subject_id=4)


@pytest.mark.django_db(transaction=True)
def test_the_migration_links_existing_tasks_to_their_request_or_entry(postgres):
    executor = MigrationExecutor(connection)
    executor.migrate([("worklist", "0002_task_subject")])  # fields there, not yet filled
    old = executor.loader.project_state([("worklist", "0002_task_subject")], at_end=True).apps
    OldTask = old.get_model("worklist", "Task")
    resource = old.get_model("directory", "Resource").objects.create(code="erp", name="ERP")
    req = old.get_model("requests_workflow", "Request").objects.create(type="GRANT_ROLE", source="manual")
    approval = OldTask.objects.create(kind="APPROVAL", request=req, title="Approve")
    sod = OldTask.objects.create(kind="SOD", request=req, title="Conflict")
    manual = OldTask.objects.create(kind="PROVISIONING", request=req, title="By hand")
    released = OldTask.objects.create(kind="PROVISIONING", request=req, title="Released by a retry")
    loose = OldTask.objects.create(kind="APPROVAL", title="No request")
    entry = old.get_model("provisioning", "ProvisioningEntry").objects.create(
        resource=resource,
        event_type="CREATE_ACCOUNT",
        manual_task=manual,
        request=req,
        created_at=timezone.now(),
    )

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    links = dict(Task.objects.values_list("pk", "subject_kind").order_by())
    ids = dict(Task.objects.values_list("pk", "subject_id").order_by())
    assert (links[approval.pk], ids[approval.pk]) == ("request", req.pk)
    assert (links[sod.pk], ids[sod.pk]) == ("request", req.pk)
    assert (links[manual.pk], ids[manual.pk]) == ("provisioning_entry", entry.pk)
    # nothing says which entry a released manual task was for: no link rather than a wrong one
    assert (links[released.pk], ids[released.pk]) == ("", None)
    assert (links[loose.pk], ids[loose.pk]) == ("", None)
    assert Task.objects.get(pk=manual.pk).subject.pk == entry.pk

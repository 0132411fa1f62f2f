"""Every page that shows a request renders, whatever the request is and wherever it stands.

For each of the 20 request types, in every status the type can reach (``reachable``), one request
is written the way the pipeline leaves it at that point (stage, tasks, timeline, result, failure
reason; a new-user request has no beneficiary until the user is created). Then every console and
workspace page that shows it — the lists, the request pages, "My tasks" and the task pages, the
approval e-mails with the page their link opens, the outcome e-mails — must answer 200 with
readable text: no "None", and no variable the template could not resolve (``string_if_invalid``
is set to a marker for this test, so a missing variable shows up instead of printing nothing).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from directory.models import AccountType, ConsoleRole
from requests_workflow.mail import APPROVE, approval_link, send_approval_requests, send_request_outcome
from requests_workflow.models import Request, RequestEvent, RequestStatus, RequestType
from requests_workflow.types import SPECS
from tests.api.factories import AccountFactory, EntitlementFactory, ResourceFactory, RoleFactory, UserFactory
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import ApprovalPolicyFactory
from worklist.models import Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db
R = RequestStatus
MARKER = "!!INVALID:%s!!"
UNREADABLE = re.compile(r"\bNone\b|!!INVALID:[^!]*!!|VariableDoesNotExist|Traceback")


def reachable(code: str) -> list[str]:
    """The statuses a request of this type can be seen in."""
    spec = SPECS[code]
    statuses = [R.NEW, R.CANCELED, R.FINISHED, R.FAILED]
    if spec.approval:
        statuses += [R.WAITING_APPROVAL, R.APPROVED, R.REJECTED]
    if spec.sod:
        statuses += [R.WAITING_SOD_APPROVAL]
        if R.REJECTED not in statuses:
            statuses.append(R.REJECTED)
    if spec.provisions:
        statuses += [R.WAITING_PROVISIONING]
    return statuses


STAGE = {
    R.NEW: 1,
    R.WAITING_APPROVAL: 3,
    R.WAITING_SOD_APPROVAL: 3,
    R.APPROVED: 3,
    R.REJECTED: 3,
    R.CANCELED: 3,
    R.WAITING_PROVISIONING: 5,
    R.FINISHED: 5,
    R.FAILED: 4,
}


@pytest.fixture
def strict_templates(settings):
    """Templates print a marker for a variable they cannot resolve (instead of nothing)."""
    templates = [dict(t, OPTIONS=dict(t["OPTIONS"])) for t in django_settings.TEMPLATES]
    templates[0]["OPTIONS"]["string_if_invalid"] = MARKER
    settings.TEMPLATES = templates


@pytest.fixture
def world(db) -> dict[str, Any]:
    admin = UserFactory(username="crawl-admin", console_role=ConsoleRole.ADMINISTRATOR)
    requester = UserFactory(username="requester", first_name="Rita", last_name="Requester")
    beneficiary = UserFactory(username="ben", first_name="Ben", last_name="Beneficiary")
    approver = UserFactory(username="approver", first_name="Ana", last_name="Approver")
    erp = ResourceFactory(code="erp", name="ERP")
    objects = {
        "resource": erp,
        "account": AccountFactory(resource=erp, owner=beneficiary, identifier="ben.erp"),
        "admin_account": AccountFactory(
            resource=erp, owner=None, identifier="erp-admin", account_type=AccountType.ADMINISTRATIVE
        ),
        "app_account": AccountFactory(
            resource=erp, owner=None, identifier="erp-batch", account_type=AccountType.APPLICATION
        ),
        "entitlement": EntitlementFactory(resource=erp, identifier="payments", name="Payments"),
        "role": RoleFactory(code="accounting", name="Accounting"),
    }
    policy = ApprovalPolicyFactory(name="Everything")
    return {
        "admin": admin,
        "requester": requester,
        "beneficiary": beneficiary,
        "approver": approver,
        "policy": policy,
        **objects,
    }


def _refs(code: str, world: dict[str, Any]) -> dict[str, Any]:
    spec = SPECS[code]
    refs: dict[str, Any] = {}
    for name in spec.requires:
        refs[name] = world[name]
    if code in (RequestType.CHECKIN_ADMIN_ACCOUNT, RequestType.CHECKOUT_ADMIN_ACCOUNT):
        refs["account"] = world["admin_account"]
    if code == RequestType.CHECKIN_APPLICATION_ACCOUNT:
        refs["account"] = world["app_account"]
    return refs


def _payload(code: str) -> dict[str, Any]:
    if code == RequestType.CREATE_USER:
        return {
            "user": {"first_name": "Nina", "last_name": "Souza", "username": "nina", "manager": "approver"}
        }
    if code == RequestType.UPDATE_USER:
        return {"changes": {"department": "Finance"}}
    if code == RequestType.UPDATE_ACCOUNT:
        return {"attributes": {"home": "/home/ben"}}
    return {}


def _task(req: Request, kind: str, status: str, world: dict[str, Any], *, assigned: bool = True) -> Task:
    decided = status != TaskStatus.OPEN
    task = Task.objects.create(
        request=req,
        kind=kind,
        status=status,
        decided_by=world["approver"] if decided and status != TaskStatus.CANCELED else None,
        decided_at=timezone.now() if decided else None,
        comment="Not this quarter." if status == TaskStatus.REJECTED else "",
        due_at=timezone.now() + timedelta(days=2) if not decided else None,
    )
    if assigned:
        task.assignees.add(world["approver"])
    return task


def make_request(
    code: str, status: str, world: dict[str, Any], *, assigned: bool = True, automatic: bool = False
) -> Request:
    """A request of ``code`` as the pipeline leaves it in ``status`` (``automatic``: made by the
    system, e.g. at the end of a time-bound access: no requester)."""
    spec = SPECS[code]
    new_user = code == RequestType.CREATE_USER
    created_user = None
    if new_user and status == R.FINISHED:
        created_user = UserFactory(
            username=f"nina{Request.objects.count()}", first_name="Nina", last_name="Souza"
        )
    stage = STAGE[status]
    failed_in_provisioning = status == R.FAILED and spec.provisions
    if failed_in_provisioning:
        stage = 5
    req = Request.objects.create(
        type=code,
        status=status,
        stage=stage,
        requester=None if automatic else world["requester"],
        beneficiary=created_user if new_user else world["beneficiary"],
        source="automatic" if automatic else "api",
        payload=_payload(code),
        justification="Needed for the month-end close.",
        approval_policy=world["policy"] if spec.approval else None,
        approval_level=1 if spec.approval and stage >= 3 else 0,
        failure_reason=(
            "Provisioning failed: the application refused; membership revoked."
            if failed_in_provisioning
            else ("The directory refused the change: Username taken." if status == R.FAILED else "")
        ),
        result={"user_id": created_user.pk, "username": created_user.username} if created_user else {},
        start_at=timezone.now() + timedelta(days=3) if status == R.APPROVED and spec.time_bound else None,
        applied_at=timezone.now() if stage >= 4 and status != R.FAILED else None,
        finished_at=timezone.now() if status in (R.FINISHED, R.FAILED, R.REJECTED, R.CANCELED) else None,
        **_refs(code, world),
    )
    RequestEvent.objects.create(
        request=req, stage=1, to_status=R.NEW, actor=world["requester"], message="Created."
    )
    if stage >= 3 and spec.approval:
        approval = {
            R.WAITING_APPROVAL: TaskStatus.OPEN,
            R.REJECTED: TaskStatus.REJECTED,
            R.CANCELED: TaskStatus.CANCELED,
        }.get(status, TaskStatus.APPROVED)
        if status == R.REJECTED and spec.sod and not spec.approval:
            approval = TaskStatus.APPROVED
        _task(req, TaskKind.APPROVAL, approval, world, assigned=assigned)
    if status == R.WAITING_SOD_APPROVAL:
        _task(req, TaskKind.SOD, TaskStatus.OPEN, world)
    if status != R.NEW:
        RequestEvent.objects.create(
            request=req,
            stage=min(stage, 5),
            from_status=R.NEW,
            to_status=status,
            message=req.failure_reason or f"Now {req.get_status_display().lower()}.",
        )
    return req


@pytest.fixture
def every_request(world) -> list[Request]:
    made = [make_request(code, status, world) for code in RequestType.values for status in reachable(code)]
    # a new-user request nobody was found to approve: a console administrator decides it
    made.append(make_request(RequestType.CREATE_USER, R.WAITING_APPROVAL, world, assigned=False))
    # what the system asks by itself (the end of a time-bound access): nobody requested it
    for code, spec in SPECS.items():
        if "automatic" in spec.sources:
            made += [make_request(code, status, world, automatic=True) for status in reachable(code)]
    return made


def readable(response, where: str) -> str:
    assert response.status_code == 200, f"{where}: {response.status_code}"
    text = response.content.decode()
    bad = UNREADABLE.search(text)
    assert bad is None, f"{where}: {bad.group(0)!r} in …{text[max(bad.start() - 200, 0) : bad.end() + 80]}…"
    return text


def crawl_pages(client, url: str) -> list[str]:
    """Every page of a paginated list."""
    first = client.get(url)
    texts = [readable(first, url)]
    page_obj = first.context.get("page_obj") if first.context else None
    pages = page_obj.paginator.num_pages if page_obj is not None else 1
    joiner = "&" if "?" in url else "?"
    for number in range(2, pages + 1):
        texts.append(readable(client.get(f"{url}{joiner}page={number}"), f"{url} page {number}"))
    return texts


def test_reachable_statuses_cover_every_type():
    assert {code for code in SPECS} == set(RequestType.values)
    assert R.WAITING_APPROVAL in reachable(RequestType.CREATE_USER)
    assert R.WAITING_PROVISIONING not in reachable(RequestType.CREATE_USER)


def test_console_pages_of_every_request(strict_templates, world, every_request):
    admin = logged_in(world["admin"])
    readable(admin.get("/console/"), "console dashboard")
    for code in RequestType.values:
        text = "".join(crawl_pages(admin, f"{reverse('console_requests:list')}?type={code}"))
        for req in every_request:
            if req.type == code:
                assert f"#{req.pk}" in text, f"{code} #{req.pk} missing from the list"
    for req in every_request:
        text = readable(
            admin.get(reverse("console_requests:detail", args=[req.pk])), f"console {req.type} {req.status}"
        )
        if req.type == RequestType.CREATE_USER and req.beneficiary_id is None:
            assert "Nina Souza" in text and "nina" in text
    for queue in ("", "users", "unassigned"):
        crawl_pages(admin, f"{reverse('console_requests:queues')}?queue={queue}")
    readable(admin.get(reverse("console_requests:policy_detail", args=[world["policy"].pk])), "policy detail")


def test_workspace_pages_of_every_request(strict_templates, world, every_request):
    for who in ("requester", "beneficiary"):
        client = logged_in(world[who])
        readable(client.get("/workspace/"), f"workspace home of {who}")
        for status in R.values:
            crawl_pages(client, f"{reverse('workspace_requests:mine')}?status={status}")
        for req in every_request:
            if getattr(req, f"{who}_id") != world[who].pk:
                continue
            text = readable(
                client.get(reverse("workspace_requests:detail", args=[req.pk])),
                f"{who}: {req.type} {req.status}",
            )
            if req.type == RequestType.CREATE_USER and req.beneficiary_id is None:
                assert "Nina Souza" in text


def test_task_pages_of_every_request(strict_templates, world, every_request):
    approver = logged_in(world["approver"])
    readable(approver.get("/workspace/"), "workspace home of the approver")
    text = readable(approver.get(reverse("workspace_requests:tasks")), "my tasks")
    open_tasks = Task.objects.filter(status=TaskStatus.OPEN, assignees=world["approver"]).select_related(
        "request"
    )
    assert open_tasks.exists()
    for task in open_tasks:
        assert f"#{task.request_id}" in text
        page = readable(
            approver.get(reverse("workspace_requests:task", args=[task.pk])),
            f"task of {task.request.type} {task.request.status}",
        )
        if task.request.type == RequestType.CREATE_USER:
            assert "Nina Souza" in page


def test_emails_of_every_request_and_the_pages_their_links_open(
    strict_templates, world, every_request, client
):
    mail.outbox.clear()
    open_approvals = Task.objects.filter(
        status=TaskStatus.OPEN, kind=TaskKind.APPROVAL, assignees=world["approver"]
    ).select_related("request")
    for task in open_approvals:
        assert send_approval_requests(task) == 1, task.request.type
        link = approval_link(task, world["approver"], APPROVE)
        page = readable(client.get(urlsplit(link).path), "approval link")
        if task.request.type == RequestType.CREATE_USER:
            assert "Nina Souza" in page
    final = [r for r in every_request if r.status in (R.FINISHED, R.FAILED, R.REJECTED, R.CANCELED)]
    for req in final:
        assert send_request_outcome(req) >= 1, (req.type, req.status)
    assert len(mail.outbox) >= len(final) + open_approvals.count()
    for message in mail.outbox:
        bodies = [message.subject, message.body, *(content for content, _ in message.alternatives)]
        for body in bodies:
            bad = UNREADABLE.search(body)
            assert bad is None, f"{message.subject}: {bad.group(0)!r} in {body[:400]}"
        if "New user for" in message.subject:
            assert "Nina Souza" in message.subject, message.subject


def test_a_pending_or_failed_new_user_request_names_the_proposed_user(world):
    """Issue 12, item 1: the approver's "My tasks", the task page and the console request page of
    a new-user request waiting for approval answered 500 (the user does not exist yet), and a
    failed one's console page was a permanent 500. They name the user the request proposes."""
    pending = make_request(RequestType.CREATE_USER, R.WAITING_APPROVAL, world)
    failed = make_request(RequestType.CREATE_USER, R.FAILED, world)
    task = pending.tasks.get()
    approver, admin, requester = (logged_in(world[who]) for who in ("approver", "admin", "requester"))
    pages = [
        (approver, reverse("workspace_requests:tasks")),
        (approver, reverse("workspace_requests:task", args=[task.pk])),
        (admin, reverse("console_requests:detail", args=[pending.pk])),
        (admin, reverse("console_requests:detail", args=[failed.pk])),
        (admin, reverse("console_requests:list")),
        (requester, reverse("workspace_requests:detail", args=[failed.pk])),
        (requester, reverse("workspace_requests:mine")),
    ]
    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Nina Souza" in response.content.decode(), url
    detail = admin.get(reverse("console_requests:detail", args=[failed.pk])).content.decode()
    assert "<code>nina</code>" in detail and "not created" in detail

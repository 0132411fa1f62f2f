"""Workspace request pages: the catalog and cart, my requests with their timeline, my tasks with
approve / reject / comment / bulk approve; and who may see or decide what."""

from __future__ import annotations

from datetime import UTC

import pytest
from django.test import Client
from django.urls import reverse

from directory.models import EntitlementMembership, RoleEntitlement, RoleMembership, RoleResource
from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.requests import request_create
from requests_workflow.views.workspace import CART_KEY
from tests.api.factories import EntitlementFactory, UserFactory
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory
from worklist.models import Task, TaskStatus

pytestmark = pytest.mark.django_db
R = RequestStatus
CART = reverse("workspace_requests:cart")
ADD = reverse("workspace_requests:cart_add")


@pytest.fixture
def approval(company):
    """GRANT_ENTITLEMENT and GRANT_ROLE requests are approved by the named user ``owner``."""
    level = ApprovalLevelFactory(
        policy=ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT", "GRANT_ROLE"]),
        approver_kind="USERS",
    )
    level.users.add(company["owner"])
    return level


def submit(client, django_capture_on_commit_callbacks, **data):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(CART, {"justification": "month-end close", **data})


def make_request(run, company, *, justification="month-end close", entitlement=None):
    return run(
        request_create,
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["alice"],
        entitlement=entitlement or company["ent"],
        justification=justification,
    )


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,args",
    [
        ("catalog", []),
        ("cart", []),
        ("mine", []),
        ("tasks", []),
        ("detail", [1]),
        ("task", [1]),
    ],
)
def test_anonymous_goes_to_login(client, name, args):
    response = client.get(reverse(f"workspace_requests:{name}", args=args))
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_pages_render_for_a_plain_user(company):
    client = logged_in(company["alice"])
    for name in ("catalog", "cart", "mine", "tasks"):
        response = client.get(reverse(f"workspace_requests:{name}"))
        assert response.status_code == 200, name
        assert "Request access" in response.content.decode()


# --- catalog and cart ------------------------------------------------------------------------


def test_catalog_lists_self_service_items_and_searches(company):
    EntitlementFactory(resource=company["app"], identifier="hidden", name="Hidden thing", self_service=False)
    client = logged_in(company["alice"])
    body = client.get(reverse("workspace_requests:catalog")).content.decode()
    assert "Payments" in body and "Accounting" in body and "ERP" in body
    assert "Hidden thing" not in body
    body = client.get(reverse("workspace_requests:catalog"), {"q": "payme"}).content.decode()
    assert "Payments" in body and "Accounting" not in body


def test_catalog_search_through_htmx_returns_only_the_results(company):
    client = logged_in(company["alice"])
    response = client.get(
        reverse("workspace_requests:catalog"),
        {"q": "account"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="catalog-results",
    )
    body = response.content.decode()
    assert body.startswith('<div id="catalog-results">') and "Accounting" in body and "<html" not in body


def test_an_item_not_in_the_catalog_cannot_be_added(company):
    hidden = EntitlementFactory(resource=company["app"], identifier="h", name="Hidden", self_service=False)
    client = logged_in(company["alice"])
    assert client.post(ADD, {"kind": "entitlement", "id": hidden.pk}).status_code == 404
    assert client.post(ADD, {"kind": "user", "id": company["eve"].pk}).status_code == 404
    assert "Hidden" not in client.get(CART).content.decode()


def test_cart_submit_creates_one_request_per_item(company, approval, django_capture_on_commit_callbacks):
    client = logged_in(company["alice"])
    client.post(ADD, {"kind": "entitlement", "id": company["ent"].pk})
    client.post(ADD, {"kind": "role", "id": company["role"].pk})
    client.post(ADD, {"kind": "role", "id": company["role"].pk})  # twice: still one item
    assert "Submit 2 requests" in client.get(CART).content.decode()

    response = submit(client, django_capture_on_commit_callbacks, beneficiary=company["alice"].pk)
    assert response.status_code == 302 and response.url == reverse("workspace_requests:mine")
    reqs = Request.objects.filter(beneficiary=company["alice"]).order_by("id")
    assert [(r.type, r.source, r.requester, r.justification) for r in reqs] == [
        ("GRANT_ENTITLEMENT", "workspace", company["alice"], "month-end close"),
        ("GRANT_ROLE", "workspace", company["alice"], "month-end close"),
    ]
    assert all(r.status == R.WAITING_APPROVAL for r in reqs)
    body = client.get(reverse("workspace_requests:mine")).content.decode()
    assert "Submitted 2 request(s)" in body and "Waiting approval" in body
    assert "Your cart is empty" in client.get(CART).content.decode()


def test_cart_with_dates_makes_a_time_bound_request(company, approval, django_capture_on_commit_callbacks):
    client = logged_in(company["alice"])
    client.post(ADD, {"kind": "entitlement", "id": company["ent"].pk})
    submit(client, django_capture_on_commit_callbacks, start="2099-01-10", end="2099-01-20")
    req = Request.objects.get()
    assert req.start_at.date().isoformat() == "2099-01-10" and req.end_at.date().isoformat() == "2099-01-20"


def test_cart_needs_a_justification_and_ordered_dates(company, django_capture_on_commit_callbacks):
    client = logged_in(company["alice"])
    client.post(ADD, {"kind": "entitlement", "id": company["ent"].pk})
    response = client.post(CART, {"justification": " "})
    assert response.status_code == 400 and "Say why you need this access" in response.content.decode()
    response = client.post(CART, {"justification": "x", "start": "2099-02-10", "end": "2099-02-01"})
    assert response.status_code == 400 and "on or after the start date" in response.content.decode()
    response = client.post(CART, {"justification": "x", "end": "not-a-date"})
    assert response.status_code == 400 and "YYYY-MM-DD" in response.content.decode()
    assert not Request.objects.exists()


def test_a_refused_item_stays_in_the_cart_with_the_reason(company, django_capture_on_commit_callbacks):
    make_request_for = company["alice"]
    request_create(
        actor=make_request_for,
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=make_request_for,
        role=company["role"],
        justification="first",
    )
    client = logged_in(company["alice"])
    client.post(ADD, {"kind": "role", "id": company["role"].pk})
    client.post(ADD, {"kind": "entitlement", "id": company["ent"].pk})
    response = submit(client, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    body = client.get(response.url).content.decode()
    assert "already pending" in body
    cart = client.get(CART).content.decode()
    assert "Accounting" in cart and "Payments" not in cart  # the entitlement went through


def test_manager_may_request_for_a_report_but_not_for_others(company, django_capture_on_commit_callbacks):
    client = logged_in(company["boss"])
    cart_page = client.get(CART).content.decode()
    client.post(ADD, {"kind": "entitlement", "id": company["ent"].pk})
    assert "alice" in client.get(CART).content.decode() and "alice" not in cart_page
    response = submit(client, django_capture_on_commit_callbacks, beneficiary=company["eve"].pk)
    assert response.status_code == 400 and "people who report to you" in response.content.decode()
    response = submit(client, django_capture_on_commit_callbacks, beneficiary=company["alice"].pk)
    assert response.status_code == 302
    req = Request.objects.get()
    assert req.beneficiary == company["alice"] and req.requester == company["boss"]
    assert req.status == R.FINISHED  # no approval policy: straight through
    assert EntitlementMembership.objects.filter(
        account__owner=company["alice"], entitlement=company["ent"]
    ).exists()


def test_cart_forms_need_csrf(company):
    client = logged_in(company["alice"], enforce_csrf_checks=True)
    assert client.post(ADD, {"kind": "entitlement", "id": company["ent"].pk}).status_code == 403
    assert client.post(CART, {"justification": "x"}).status_code == 403
    page = client.get(reverse("workspace_requests:catalog")).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 3  # every add-to-cart form carries a token


# --- my requests -----------------------------------------------------------------------------


def test_my_request_shows_the_timeline_and_escapes_the_justification(company, approval, run):
    req = make_request(run, company, justification='<script>alert("x")</script>')
    client = logged_in(company["alice"])
    body = client.get(reverse("workspace_requests:detail", args=[req.pk])).content.decode()
    assert '<script>alert("x")</script>' not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    for stage in ("Creation", "Validation", "Approval and SoD", "Directory", "Provisioning"):
        assert stage in body
    assert "Created from workspace." in body and "Approval policy" in body
    owner_tasks = logged_in(company["owner"]).get(reverse("workspace_requests:tasks")).content.decode()
    assert "<script>alert" not in owner_tasks and "&lt;script&gt;" in owner_tasks


def test_nobody_else_sees_my_request(company, run):
    req = make_request(run, company)
    assert (
        logged_in(company["eve"]).get(reverse("workspace_requests:detail", args=[req.pk])).status_code == 404
    )
    body = logged_in(company["eve"]).get(reverse("workspace_requests:mine")).content.decode()
    assert f"#{req.pk}" not in body
    response = logged_in(company["eve"]).post(reverse("workspace_requests:cancel", args=[req.pk]))
    assert response.status_code == 404
    req.refresh_from_db()
    assert req.status != R.CANCELED


def test_cancel_my_request(company, approval, run):
    req = make_request(run, company)
    client = logged_in(company["alice"])
    response = client.post(reverse("workspace_requests:cancel", args=[req.pk]))
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.status == R.CANCELED
    assert not Task.objects.filter(request=req, status=TaskStatus.OPEN).exists()
    body = client.get(reverse("workspace_requests:detail", args=[req.pk])).content.decode()
    assert "Canceled" in body and "Cancel request" not in body


# --- my tasks --------------------------------------------------------------------------------


def test_approver_sees_and_approves_the_task(company, approval, run, django_capture_on_commit_callbacks):
    req = make_request(run, company)
    owner = logged_in(company["owner"])
    body = owner.get(reverse("workspace_requests:tasks")).content.decode()
    assert f"#{req.pk}" in body and "month-end close" in body
    task = Task.objects.get(request=req)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            reverse("workspace_requests:task_decide", args=[task.pk, "approve"]), {"comment": "ok"}
        )
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.status == R.FINISHED
    assert EntitlementMembership.objects.filter(
        account__owner=company["alice"], entitlement=company["ent"]
    ).exists()
    assert "Nothing waits for you" in owner.get(reverse("workspace_requests:tasks")).content.decode()


def test_reject_needs_a_reason(company, approval, run):
    req = make_request(run, company)
    task = Task.objects.get(request=req)
    owner = logged_in(company["owner"])
    url = reverse("workspace_requests:task_decide", args=[task.pk, "reject"])
    owner.post(url, {"comment": "  "})
    req.refresh_from_db()
    assert req.status == R.WAITING_APPROVAL
    owner.post(url, {"comment": "not your department"})
    req.refresh_from_db()
    assert req.status == R.REJECTED
    body = (
        logged_in(company["alice"]).get(reverse("workspace_requests:detail", args=[req.pk])).content.decode()
    )
    assert "Rejected by owner: not your department" in body


def test_comment_goes_to_the_history_and_the_task_stays_open(company, approval, run):
    req = make_request(run, company)
    task = Task.objects.get(request=req)
    owner = logged_in(company["owner"])
    owner.post(
        reverse("workspace_requests:task_decide", args=[task.pk, "comment"]), {"comment": "<b>why</b>?"}
    )
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    body = owner.get(reverse("workspace_requests:task", args=[task.pk])).content.decode()
    assert "Comment by owner: &lt;b&gt;why&lt;/b&gt;?" in body


def test_a_task_not_mine_cannot_be_seen_or_decided(company, approval, run):
    req = make_request(run, company)
    task = Task.objects.get(request=req)
    for user in (company["eve"], company["alice"]):  # a stranger, and the requester herself
        client = logged_in(user)
        assert client.get(reverse("workspace_requests:task", args=[task.pk])).status_code == 404
        url = reverse("workspace_requests:task_decide", args=[task.pk, "approve"])
        assert client.post(url).status_code == 404
        client.post(reverse("workspace_requests:tasks_bulk_approve"), {"task": [task.pk]})
    task.refresh_from_db()
    req.refresh_from_db()
    assert task.status == TaskStatus.OPEN and req.status == R.WAITING_APPROVAL


def test_queue_members_see_the_queue_tasks(company, run):
    from tests.requests_workflow.factories import QueueFactory

    queue = QueueFactory(name="ERP approvers")
    member = UserFactory(username="qmember")
    queue.members.add(member)
    ApprovalLevelFactory(policy=ApprovalPolicyFactory(), approver_kind="QUEUE", queue=queue)
    req = make_request(run, company)
    body = logged_in(member).get(reverse("workspace_requests:tasks")).content.decode()
    assert f"#{req.pk}" in body and "queue ERP approvers" in body


def test_bulk_approve_moves_every_selected_request(
    company, approval, run, django_capture_on_commit_callbacks
):
    other = EntitlementFactory(resource=company["app"], identifier="ledger", name="Ledger")
    first = make_request(run, company)
    second = make_request(run, company, entitlement=other)
    third = run(
        request_create,
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=company["alice"],
        role=company["role"],
        justification="x",
    )
    tasks = {t.request_id: t.pk for t in Task.objects.all()}
    owner = logged_in(company["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            reverse("workspace_requests:tasks_bulk_approve"), {"task": [tasks[first.pk], tasks[second.pk]]}
        )
    assert response.status_code == 302
    statuses = dict(Request.objects.values_list("pk", "status"))
    assert statuses[first.pk] == R.FINISHED and statuses[second.pk] == R.FINISHED
    assert statuses[third.pk] == R.WAITING_APPROVAL  # not selected
    assert not RoleMembership.objects.filter(user=company["alice"], role=company["role"]).exists()
    assert "Approved 2 request(s)" in owner.get(reverse("workspace_requests:tasks")).content.decode()


def test_task_forms_need_csrf(company, approval, run):
    req = make_request(run, company)
    task = Task.objects.get(request=req)
    client = Client(enforce_csrf_checks=True)
    client.force_login(company["owner"])
    assert (
        client.post(reverse("workspace_requests:task_decide", args=[task.pk, "approve"])).status_code == 403
    )
    assert (
        client.post(reverse("workspace_requests:tasks_bulk_approve"), {"task": [task.pk]}).status_code == 403
    )
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


def test_a_queue_member_never_sees_the_task_of_their_own_request(company, run):
    from tests.requests_workflow.factories import QueueFactory

    queue = QueueFactory(name="Everyone")
    queue.members.add(company["alice"], company["owner"])
    ApprovalLevelFactory(policy=ApprovalPolicyFactory(), approver_kind="QUEUE", queue=queue)
    req = make_request(run, company)
    task = Task.objects.get(request=req)
    alice = logged_in(company["alice"])
    assert f"#{req.pk}" not in alice.get(reverse("workspace_requests:tasks")).content.decode()
    assert alice.get(reverse("workspace_requests:task", args=[task.pk])).status_code == 404
    assert (
        f"#{req.pk}" in logged_in(company["owner"]).get(reverse("workspace_requests:tasks")).content.decode()
    )


def test_approver_shortens_the_access_period_but_cannot_extend_it(
    company, approval, run, django_capture_on_commit_callbacks
):
    from datetime import datetime

    req = run(
        request_create,
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["alice"],
        entitlement=company["ent"],
        justification="project",
        start_at=datetime(2099, 1, 10, tzinfo=UTC),
        end_at=datetime(2099, 1, 20, 23, 59, tzinfo=UTC),
    )
    task = Task.objects.get(request=req)
    owner = logged_in(company["owner"])
    page = owner.get(reverse("workspace_requests:task", args=[task.pk])).content.decode()
    assert 'value="2099-01-20"' in page
    url = reverse("workspace_requests:task_decide", args=[task.pk, "approve"])
    response = owner.post(url, {"start": "2099-01-10", "end": "2099-01-25"}, follow=True)
    assert "cannot end after the requested" in response.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(url, {"start": "2099-01-10", "end": "2099-01-15"})
    req.refresh_from_db()
    assert req.status == R.APPROVED  # waits for its start date
    assert req.start_at.date().isoformat() == "2099-01-10" and req.end_at.date().isoformat() == "2099-01-15"
    body = (
        logged_in(company["alice"]).get(reverse("workspace_requests:detail", args=[req.pk])).content.decode()
    )
    assert "Access period changed by owner" in body


# --- the catalog knows what you hold ---------------------------------------------------------


@pytest.fixture
def alice_holds_payments_through_accounting(company):
    from directory.models import RoleEntitlement, RoleResource
    from directory.services import access

    RoleResource.objects.create(role=company["role"], resource=company["app"])
    RoleEntitlement.objects.create(role=company["role"], entitlement=company["ent"])
    access.role_grant(actor=company["admin"], source="console", user=company["alice"], role=company["role"])
    assert EntitlementMembership.objects.filter(
        account__owner=company["alice"], entitlement=company["ent"]
    ).exists()


def _row(page: str, item: str) -> str:
    row = page[page.index(f'data-item="{item}"') :]
    return row[: row.index("</tr>")]


def test_the_catalog_says_what_you_already_have_and_how(company, alice_holds_payments_through_accounting):
    company["ent"].self_service = company["role"].self_service = company["app"].self_service = True
    for obj in (company["ent"], company["role"], company["app"]):
        obj.save(update_fields=["self_service"])
    other = EntitlementFactory(resource=company["app"], identifier="other", name="Other", self_service=True)
    page = logged_in(company["alice"]).get(reverse("workspace_requests:catalog")).content.decode()
    payments = _row(page, f"entitlement-{company['ent'].pk}")
    assert (
        "You have it" in payments and "through role Accounting" in payments and "Add to cart" not in payments
    )
    assert "You have it" in _row(page, f"role-{company['role'].pk}") and "directly" in _row(
        page, f"role-{company['role'].pk}"
    )
    assert "an account" in _row(page, f"resource-{company['app'].pk}")
    assert "Add to cart" in _row(page, f"entitlement-{other.pk}") and "You have it" not in _row(
        page, f"entitlement-{other.pk}"
    )
    # adding it anyway (a stale page, a crafted POST) is refused, the cart stays empty
    client = logged_in(company["alice"])
    response = client.post(ADD, {"kind": "role", "id": company["role"].pk}, follow=True)
    assert "You already have Accounting (directly): nothing to request." in response.content.decode()
    assert not client.session.get(CART_KEY)


def test_the_cart_refuses_what_the_beneficiary_already_has_before_any_request(
    company, alice_holds_payments_through_accounting, django_capture_on_commit_callbacks
):
    company["role"].self_service = True
    company["role"].save(update_fields=["self_service"])
    boss = logged_in(company["boss"])  # alice's manager, who holds nothing
    page = boss.get(reverse("workspace_requests:catalog")).content.decode()
    assert "Add to cart" in _row(page, f"role-{company['role'].pk}")
    boss.post(ADD, {"kind": "role", "id": company["role"].pk})
    before = Request.objects.count()
    response = submit(boss, django_capture_on_commit_callbacks, beneficiary=company["alice"].pk)
    text = response.content.decode()
    assert "Accounting: " in text and "already has it (directly); removed from your cart." in text
    assert Request.objects.count() == before  # nothing was requested
    assert "Nothing is left in your cart" in text
    assert not boss.session.get(CART_KEY)  # out of the cart, not kept for another refusal


def test_a_role_in_the_catalog_says_what_it_gives(company):
    role = company["role"]
    RoleResource.objects.create(role=role, resource=company["app"])
    RoleEntitlement.objects.create(role=role, entitlement=company["ent"])
    page = (
        logged_in(company["alice"])
        .get(reverse("workspace_requests:catalog"), {"kind": "role"})
        .content.decode()
    )
    row = page[page.index(f'data-item="role-{role.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Gives you: an account on ERP; Payments (ERP)" in row

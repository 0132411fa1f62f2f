"""Console pages of the request policies (issue #3, sections 2 and 3): approval policies and their
levels, validation policies; administrators only for changes, field errors on the forms, nothing
saved on error, every change audited; a policy edited here decides the next request."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole
from requests_workflow.models import ApprovalPolicy, Request, RequestStatus, ValidationPolicy
from requests_workflow.services.requests import request_create
from tests.api.factories import UserFactory
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory, QueueFactory
from worklist.models import Task

pytestmark = pytest.mark.django_db

NEW = reverse("console_requests:policy_new")
VNEW = reverse("console_requests:validation_policy_new")


@pytest.fixture
def admin(company):
    return logged_in(company["admin"])


@pytest.fixture
def policy(company):
    policy = ApprovalPolicyFactory(name="Payments", request_types=["GRANT_ENTITLEMENT"], priority=10)
    level = ApprovalLevelFactory(policy=policy, approver_kind="USERS")
    level.users.add(company["owner"])
    return policy


def policy_form(**overrides):
    data = {"name": "Finance grants", "priority": "5", "active": "on", "request_types": ["GRANT_ENTITLEMENT"]}
    data.update(overrides)
    return data


def audit(action):
    return AuditEvent.objects.filter(action=action)


def test_create_edit_and_levels_of_an_approval_policy(admin, company):
    response = admin.post(
        NEW,
        policy_form(
            resource=company["app"].pk,
            criticality="",
            beneficiary_conditions="department=Finance\norganization=fin",
        ),
    )
    policy = ApprovalPolicy.objects.get(name="Finance grants")
    assert response.status_code == 302 and response["Location"] == reverse(
        "console_requests:policy_detail", args=[policy.pk]
    )
    assert policy.request_types == ["GRANT_ENTITLEMENT"] and policy.resource == company["app"]
    assert policy.beneficiary_conditions == {"department": "Finance", "organization": "fin"}
    assert audit("approval_policy.create").count() == 1
    # edit: JSON conditions, criticality
    admin.post(
        reverse("console_requests:policy_edit", args=[policy.pk]),
        policy_form(priority="7", criticality="HIGH", beneficiary_conditions='{"employee_type": "EMPLOYEE"}'),
    )
    policy.refresh_from_db()
    assert (policy.priority, policy.criticality, policy.resource) == (7, "HIGH", None)
    assert policy.beneficiary_conditions == {"employee_type": "EMPLOYEE"}
    assert audit("approval_policy.update").count() == 1
    # levels: manager, then named users (ALL), then a queue
    queue = QueueFactory(name="Security")
    level_new = reverse("console_requests:level_new", args=[policy.pk])
    assert admin.post(level_new, {"approver_kind": "MANAGER", "mode": "ANY"}).status_code == 302
    admin.post(level_new, {"approver_kind": "USERS", "mode": "ALL", "users": "owner, boss"})
    admin.post(level_new, {"approver_kind": "QUEUE", "mode": "ANY", "queue": queue.pk})
    levels = list(policy.levels.order_by("position"))
    assert [(lv.position, lv.approver_kind) for lv in levels] == [(1, "MANAGER"), (2, "USERS"), (3, "QUEUE")]
    assert sorted(levels[1].users.values_list("username", flat=True)) == ["boss", "owner"]
    assert levels[1].mode == "ALL" and levels[2].queue == queue
    # reorder: the queue first
    admin.post(reverse("console_requests:level_action", args=[policy.pk, levels[2].pk, "up"]))
    moved = admin.post(
        reverse("console_requests:level_action", args=[policy.pk, levels[2].pk, "up"]), follow=True
    )
    assert moved.redirect_chain[-1][0] == reverse("console_requests:policy_detail", args=[policy.pk])
    assert "Level 2 moved up." in moved.content.decode()  # the level's position when the button was pressed
    assert (
        admin.post(
            reverse("console_requests:level_action", args=[policy.pk, levels[2].pk, "sideways"])
        ).status_code
        == 404
    )
    assert list(policy.levels.order_by("position").values_list("approver_kind", flat=True)) == [
        "QUEUE",
        "MANAGER",
        "USERS",
    ]
    # edit a level, then remove the first: the others move up
    admin.post(
        reverse("console_requests:level_edit", args=[policy.pk, levels[0].pk]),
        {"approver_kind": "USERS", "mode": "ANY", "users": "owner"},
    )
    admin.post(reverse("console_requests:level_action", args=[policy.pk, levels[2].pk, "delete"]))
    assert list(policy.levels.order_by("position").values_list("position", "approver_kind")) == [
        (1, "USERS"),
        (2, "USERS"),
    ]
    assert audit("approval_policy.level_remove").count() == 1
    page = admin.get(reverse("console_requests:policy_detail", args=[policy.pk])).content.decode()
    assert "Add a level" in page and "Deactivate" in page


def test_approval_policy_field_errors_save_nothing(admin, company, policy):
    before = (ApprovalPolicy.objects.count(), AuditEvent.objects.count())
    other = UserFactory(username="other-app-owner")
    from tests.api.factories import EntitlementFactory, ResourceFactory

    crm = ResourceFactory(code="crm", name="CRM")
    foreign = EntitlementFactory(resource=crm, identifier="crm-admin", name="CRM admin", owner=other)
    cases = [
        (policy_form(name=""), "name", "This field is required"),
        (policy_form(name="Payments"), "name", "This name is taken"),
        (policy_form(beneficiary_conditions="no equals sign"), "beneficiary_conditions", "attribute=value"),
        (policy_form(beneficiary_conditions="{broken"), "beneficiary_conditions", "Not valid JSON"),
        (
            policy_form(resource=company["app"].pk, entitlement=foreign.pk),
            "entitlement",
            "not an entitlement of",
        ),
        (policy_form(request_types=["GRANT_PONY"]), "request_types", "Select a valid choice"),
    ]
    for data, field, message in cases:
        response = admin.post(NEW, data)
        assert response.status_code == 200, field
        assert message in " ".join(response.context["form"].errors.get(field, [])), (
            field,
            response.context["form"].errors,
        )
    assert (ApprovalPolicy.objects.count(), AuditEvent.objects.count()) == before
    level_new = reverse("console_requests:level_new", args=[policy.pk])
    for data, field, message in [
        ({"approver_kind": "USERS", "mode": "ANY", "users": ""}, "users", "at least one approver"),
        (
            {"approver_kind": "USERS", "mode": "ANY", "users": "nobody"},
            "users",
            "No user with the username nobody",
        ),
        ({"approver_kind": "QUEUE", "mode": "ANY"}, "queue", "Choose the queue"),
        ({"approver_kind": "BOSS", "mode": "ANY"}, "approver_kind", "Select a valid choice"),
    ]:
        response = admin.post(level_new, data)
        assert response.status_code == 200
        assert message in " ".join(response.context["form"].errors.get(field, [])), field
    assert policy.levels.count() == 1


def test_delete_is_refused_while_requests_are_in_flight_deactivate_instead(admin, company, policy, run):
    req = run(
        request_create,
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["alice"],
        entitlement=company["ent"],
        justification="close",
    )
    assert req.status == RequestStatus.WAITING_APPROVAL and req.approval_policy == policy
    delete = reverse("console_requests:policy_delete", args=[policy.pk])
    page = admin.get(delete).content.decode()
    assert "cannot be deleted while they run" in page and "Deactivate instead" in page
    response = admin.post(delete, follow=True)
    assert ApprovalPolicy.objects.filter(pk=policy.pk).exists()
    assert "Deactivate it instead" in response.content.decode()
    # levels cannot be removed or reordered under a waiting request
    level = policy.levels.get()
    admin.post(reverse("console_requests:level_action", args=[policy.pk, level.pk, "delete"]))
    assert policy.levels.count() == 1
    # deactivate: the request in flight keeps its policy
    admin.post(reverse("console_requests:policy_toggle", args=[policy.pk]), {"active": "0"})
    policy.refresh_from_db()
    assert not policy.active and audit("approval_policy.deactivate").count() == 1
    # once it is over, the policy may go
    Request.objects.filter(pk=req.pk).update(status=RequestStatus.REJECTED)
    assert admin.post(delete).status_code == 302
    assert not ApprovalPolicy.objects.filter(pk=policy.pk).exists()
    assert audit("approval_policy.delete").get().object_repr == "Payments"
    req.refresh_from_db()
    assert req.approval_policy is None


def test_a_policy_edited_in_the_console_decides_the_next_request(admin, company, policy, run):
    # the policy asked the owner; now it asks the manager, then the "Security" queue
    level = policy.levels.get()
    queue = QueueFactory(name="Security")
    admin.post(
        reverse("console_requests:level_edit", args=[policy.pk, level.pk]),
        {"approver_kind": "MANAGER", "mode": "ANY"},
    )
    admin.post(
        reverse("console_requests:level_new", args=[policy.pk]),
        {"approver_kind": "QUEUE", "mode": "ANY", "queue": queue.pk},
    )
    req = run(
        request_create,
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["alice"],
        entitlement=company["ent"],
        justification="close",
    )
    task = Task.objects.get(request=req)
    assert req.approval_policy == policy and task.level == 1
    assert list(task.assignees.values_list("username", flat=True)) == ["boss"]
    # deactivated: the next request needs no approval
    admin.post(reverse("console_requests:policy_toggle", args=[policy.pk]), {"active": "0"})
    req2 = run(
        request_create,
        actor=company["eve"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company["eve"],
        entitlement=company["ent"],
        justification="close",
    )
    assert req2.approval_policy is None and req2.status == RequestStatus.FINISHED


def test_validation_policy_crud(admin, company):
    data = {
        "name": "Employees only",
        "priority": "10",
        "active": "on",
        "request_types": ["GRANT_ROLE", "GRANT_ENTITLEMENT"],
        "role": "",
        "justification_required": "on",
        "justification_min_length": "15",
        "requester_scope": "SELF",
        "beneficiary_rules": "employee_type=EMPLOYEE\ncost_center in CC-1,CC-2\ndepartment!=Sales\njob_title~Eng.*",
        "beneficiary_statuses": ["ACTIVE"],
        "max_period_days": "90",
    }
    response = admin.post(VNEW, data)
    policy = ValidationPolicy.objects.get()
    assert response.status_code == 302
    assert policy.request_types == ["GRANT_ENTITLEMENT", "GRANT_ROLE"]
    assert policy.beneficiary_rules == [
        {"attribute": "employee_type", "operator": "equals", "value": "EMPLOYEE"},
        {"attribute": "cost_center", "operator": "in", "value": ["CC-1", "CC-2"]},
        {"attribute": "department", "operator": "not_equals", "value": "Sales"},
        {"attribute": "job_title", "operator": "regex", "value": "Eng.*"},
    ]
    assert (policy.justification_min_length, policy.requester_scope, policy.max_period_days) == (
        15,
        "SELF",
        90,
    )
    assert audit("validation_policy.create").count() == 1
    page = admin.get(reverse("console_requests:validation_policy_detail", args=[policy.pk])).content.decode()
    assert "cost_center is one of CC-1, CC-2" in page and "Only the beneficiary" in page
    edit = reverse("console_requests:validation_policy_edit", args=[policy.pk])
    form = admin.get(edit).context["form"]
    assert "cost_center in CC-1,CC-2" in form.initial["beneficiary_rules"]
    admin.post(edit, {**data, "max_period_days": "", "requester_scope": ""})
    policy.refresh_from_db()
    assert policy.max_period_days is None and policy.requester_scope == ""
    admin.post(reverse("console_requests:validation_policy_toggle", args=[policy.pk]), {"active": "0"})
    policy.refresh_from_db()
    assert not policy.active
    listing = admin.get(reverse("console_requests:validation_policies")).content.decode()
    assert "Employees only" in listing and "Inactive" in listing
    assert (
        admin.get(reverse("console_requests:validation_policy_delete", args=[policy.pk])).status_code == 200
    )
    admin.post(reverse("console_requests:validation_policy_delete", args=[policy.pk]))
    assert not ValidationPolicy.objects.exists()
    assert audit("validation_policy.delete").count() == 1


def test_validation_policy_field_errors_save_nothing(admin):
    base = {"name": "P", "priority": "1", "justification_min_length": "0"}
    before = AuditEvent.objects.count()
    for data, field, message in [
        (base, "__all__", "checks nothing"),
        ({**base, "beneficiary_rules": "no operator"}, "beneficiary_rules", "Write attribute=value"),
        ({**base, "beneficiary_rules": "title~(unclosed"}, "beneficiary_rules", "invalid pattern"),
        ({**base, "beneficiary_rules": "9bad=x"}, "beneficiary_rules", "name the attribute"),
        (
            {**base, "max_period_days": "0", "justification_required": "on"},
            "max_period_days",
            "greater than or equal",
        ),
        ({**base, "requester_scope": "BOSS"}, "requester_scope", "Select a valid choice"),
        ({**base, "name": "", "justification_required": "on"}, "name", "required"),
    ]:
        response = admin.post(VNEW, data)
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert message in " ".join(errors.get(field, [])), (field, errors)
    assert not ValidationPolicy.objects.exists() and AuditEvent.objects.count() == before


@pytest.mark.parametrize("role", [ConsoleRole.HELPDESK, ConsoleRole.AUDITOR, ""])
def test_changes_are_for_administrators(company, policy, role):
    user = UserFactory(username=f"u-{role or 'plain'}", console_role=role)
    client = logged_in(user)
    vp = ValidationPolicy.objects.create(name="V", justification_required=True)
    level = policy.levels.get()
    posts = [
        (NEW, policy_form()),
        (reverse("console_requests:policy_edit", args=[policy.pk]), policy_form()),
        (reverse("console_requests:policy_toggle", args=[policy.pk]), {"active": "0"}),
        (reverse("console_requests:policy_delete", args=[policy.pk]), {}),
        (
            reverse("console_requests:level_new", args=[policy.pk]),
            {"approver_kind": "MANAGER", "mode": "ANY"},
        ),
        (reverse("console_requests:level_edit", args=[policy.pk, level.pk]), {"approver_kind": "MANAGER"}),
        (reverse("console_requests:level_action", args=[policy.pk, level.pk, "delete"]), {}),
        (VNEW, {"name": "X", "priority": "1", "justification_required": "on"}),
        (reverse("console_requests:validation_policy_edit", args=[vp.pk]), {"name": "Y", "priority": "1"}),
        (reverse("console_requests:validation_policy_toggle", args=[vp.pk]), {"active": "0"}),
        (reverse("console_requests:validation_policy_delete", args=[vp.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert client.get(NEW).status_code == 403
    assert client.get(VNEW).status_code == 403
    policy.refresh_from_db()
    assert policy.active and policy.levels.count() == 1
    assert ValidationPolicy.objects.get().name == "V" and ApprovalPolicy.objects.count() == 1
    # reading: any console role; plain users get 403 too
    expected = 200 if role else 403
    for url in (
        reverse("console_requests:policies"),
        reverse("console_requests:validation_policies"),
        reverse("console_requests:validation_policy_detail", args=[vp.pk]),
    ):
        assert client.get(url).status_code == expected
    if role:
        page = client.get(reverse("console_requests:policy_detail", args=[policy.pk])).content.decode()
        assert "Add a level" not in page and "Delete…" not in page


def test_nav_links_both_policy_pages(admin):
    page = admin.get(reverse("console_requests:list")).content.decode()
    assert reverse("console_requests:policies") in page
    assert reverse("console_requests:validation_policies") in page


def test_preview_names_the_policies_that_would_apply(company, policy):
    ValidationPolicy.objects.create(
        name="Grants say why", request_types=["GRANT_ENTITLEMENT"], justification_required=True
    )
    ValidationPolicy.objects.create(
        name="Roles only", request_types=["GRANT_ROLE"], justification_required=True
    )
    client = logged_in(UserFactory(username="aud", console_role=ConsoleRole.AUDITOR))
    url = reverse("console_requests:policy_preview")
    page = client.get(
        url, {"request_type": "GRANT_ENTITLEMENT", "beneficiary": "alice", "entitlement": company["ent"].pk}
    ).content.decode()
    assert "Payments" in page and "Named users (owner)" in page
    assert "Grants say why" in page and "Roles only" not in page
    page = client.get(url, {"request_type": "LOCK_USER", "beneficiary": "alice"}).content.decode()
    assert "No approval policy matches" in page and "only the built-in rules" in page
    response = client.get(url, {"request_type": "LOCK_USER", "beneficiary": "nobody"})
    assert response.status_code == 200 and "No user with the username" in response.content.decode()
    assert Request.objects.count() == 0

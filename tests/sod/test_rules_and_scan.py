"""SoD rules (validation, deleted items, audit), the API, and the detective scan through the
scheduled task: violations with their lineage, tasks for the rule owner, exceptions, expiry and
resolution."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import ValidationFailed
from directory.models import EntitlementMembership, MembershipRoleGrant, Role
from directory.services import access
from sod.models import SoDException, SoDRule, SoDViolation, ViolationStatus
from sod.services.rules import rules_csv_rows, sod_rule_create, sod_rule_update, sod_rules_import
from sod.tasks import scan_violations
from tests.api.helpers import client_for
from tests.sod.conftest import give
from worklist.models import Task, TaskKind, TaskStatus
from worklist.services import task_decide

pytestmark = pytest.mark.django_db
V = ViolationStatus


def create(sap, sides, code="x"):
    return sod_rule_create(actor=sap["admin"], source="console", code=code, name="X", sides=sides)


@pytest.mark.parametrize(
    "sides, message",
    [
        ([["entitlement:sap/vendor_create"]], "at least two sides"),
        ([["entitlement:sap/vendor_create"], []], "at least two sides"),
        ([["entitlement:sap/vendor_create"], ["entitlement:sap/vendor_create"]], "must not overlap"),
        ([["entitlement:sap/nope"], ["role:payer"]], "no entitlement"),
        ([["role:ghost"], ["role:payer"]], "no role"),
        ([["bogus"], ["role:payer"]], "not an item reference"),
        ("not a list", "lists of item references"),
    ],
)
def test_bad_sides_are_refused_and_nothing_is_saved(sap, sides, message):
    with pytest.raises(ValidationFailed) as error:
        create(sap, sides)
    assert message in error.value.fields["sides"][0]
    assert not SoDRule.objects.filter(code="x").exists()


def test_a_deleted_item_stays_on_the_rule_as_deleted_and_matches_nobody(sap):
    role = Role.objects.create(code="tmp", name="Temp")
    rule = create(sap, [["role:tmp"], ["entitlement:sap/payment_approve"]])
    role.delete()
    item = rule.items.get(side=1)
    assert str(item) == "Role Temp (deleted)" and not item.present
    # saving the rule again with the same references keeps it; the scan ignores it
    sod_rule_update(
        actor=sap["admin"],
        source="console",
        rule=rule,
        data={"name": "Renamed", "sides": [["role:tmp"], ["entitlement:sap/payment_approve"]]},
    )
    assert rule.items.count() == 2
    scan_violations()
    assert not SoDViolation.objects.filter(rule=rule).exists()


def test_changes_are_audited_and_csv_round_trips(sap):
    rule = sap["rule"]
    sod_rule_update(actor=sap["admin"], source="console", rule=rule, data={"severity": "LOW"})
    actions = list(AuditEvent.objects.filter(object_id=str(rule.pk)).values_list("action", flat=True))
    assert {"sod_rule.create", "sod_rule.sides_set", "sod_rule.update"} <= set(actions)
    header = "code,name,severity,owner,description,mitigating_controls,evidence_url,active,side_a,side_b,side_c,side_d\n"
    rows = rules_csv_rows([rule])
    text = header + ",".join(f'"{c}"' for c in rows[0]).replace('"p2p"', "p2p") + "\n"
    text += "new1,New rule,HIGH,cfo,,,,yes,role:payer,entitlement:sap/report_view,,\n"
    result = sod_rules_import(actor=sap["admin"], source="console", text=text)
    assert (result.created, result.updated) == (1, 1)
    assert SoDRule.objects.get(code="new1").owner == sap["cfo"]
    with pytest.raises(ValidationFailed) as error:
        sod_rules_import(
            actor=sap["admin"],
            source="console",
            text=header + "bad,Bad,HIGH,,,,,yes,role:payer,role:payer,,\n",
        )
    assert "Row 2 (bad)" in error.value.fields["file"][0]
    assert not SoDRule.objects.filter(code="bad").exists()


def test_scan_records_violations_with_lineage_and_opens_a_task_for_the_owner(sap):
    give(sap["alice"], sap["create"])
    access.role_grant(actor=None, source="console", user=sap["alice"], role=sap["payer"])
    # the role's entitlement, kept by the role only (as the role fan-out leaves it)
    membership = EntitlementMembership.objects.filter(
        account__owner=sap["alice"], entitlement=sap["pay"]
    ).first()
    membership = membership or give(sap["alice"], sap["pay"])
    EntitlementMembership.objects.filter(pk=membership.pk).update(manual=False, management="ROLE")
    MembershipRoleGrant.objects.get_or_create(membership=membership, role=sap["payer"])
    give(sap["bob"], sap["create"])  # one side only: no violation
    result = scan_violations()
    assert result["found"] == 1 and result["new"] == 1 and result["tasks_opened"] == 1
    violation = SoDViolation.objects.get()
    assert violation.user == sap["alice"] and violation.status == V.OPEN
    lineage = {i["label"]: (i["direct"], i["via_roles"]) for i in violation.items}
    assert lineage["Create supplier (sap)"] == (True, [])
    assert lineage["Approve payment (sap)"] == (False, ["Payments clerk"])
    assert lineage["Role Payments clerk"] == (True, [])
    task = violation.task
    assert task.kind == TaskKind.SOD and task.request_id is None
    assert list(task.assignees.all()) == [sap["cfo"]]
    # the task points at its violation through the worklist's typed link, and reads as such
    assert (task.subject_kind, task.subject_id) == ("sod_violation", violation.pk)
    assert task.subject == violation
    assert task.subject_label == f"SoD violation of {violation.rule.name}: {sap['alice']}"
    # running again changes nothing
    again = scan_violations()
    assert (again["new"], again["tasks_opened"], again["resolved"]) == (0, 0, 0)
    assert SoDViolation.objects.count() == 1 and Task.objects.filter(kind=TaskKind.SOD).count() == 1
    assert AuditEvent.objects.filter(action="sod_violation.found").count() == 1


def test_owner_accepts_with_exception_which_expires_and_the_violation_comes_back(sap):
    give(sap["alice"], sap["create"])
    give(sap["alice"], sap["pay"])
    scan_violations()
    violation = SoDViolation.objects.get()
    with pytest.raises(ValidationFailed):
        task_decide(
            actor=sap["cfo"], source="workspace", task=violation.task, decision="approve", comment="ok"
        )
    task_decide(
        actor=sap["cfo"],
        source="workspace",
        task=violation.task,
        decision="approve",
        comment="Small branch, two people",
        exception_expires_at=timezone.now() + timedelta(days=10),
    )
    violation.refresh_from_db()
    assert violation.status == V.ACCEPTED and violation.task.status == TaskStatus.APPROVED
    assert scan_violations()["tasks_opened"] == 0
    # the exception expires: the next scan reopens the violation with a new task
    SoDException.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    result = scan_violations()
    assert result["reopened"] == 1 and result["tasks_opened"] == 1
    violation.refresh_from_db()
    assert violation.status == V.OPEN and violation.task.status == TaskStatus.OPEN


def test_a_removed_access_resolves_the_violation_and_cancels_its_task(sap):
    give(sap["alice"], sap["create"])
    membership = give(sap["alice"], sap["pay"])
    scan_violations()
    task = SoDViolation.objects.get().task
    access.membership_revoke(actor=None, source="console", membership=membership)
    assert scan_violations()["resolved"] == 1
    assert SoDViolation.objects.get().status == V.RESOLVED
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELED


def test_rejecting_a_violation_task_needs_a_reason_and_keeps_it_open(sap):
    give(sap["alice"], sap["create"])
    give(sap["alice"], sap["pay"])
    scan_violations()
    violation = SoDViolation.objects.get()
    with pytest.raises(ValidationFailed):
        task_decide(actor=sap["cfo"], source="workspace", task=violation.task, decision="reject", comment="")
    task_decide(
        actor=sap["cfo"], source="workspace", task=violation.task, decision="reject", comment="Remove one"
    )
    violation.refresh_from_db()
    assert violation.status == V.OPEN and violation.task.status == TaskStatus.REJECTED
    assert scan_violations()["tasks_opened"] == 0  # no nagging: the refusal stands


# --- API -------------------------------------------------------------------------------------


def test_api_rules_crud_with_denied_cases(sap):
    admin, auditor = client_for(sap["admin"]), client_for(sap["auditor"])
    listed = auditor.get("/api/v1/sod-rules/")
    assert listed.status_code == 200
    (rule,) = listed.json()["results"]
    assert [[i["ref"] for i in side] for side in rule["sides"]] == [
        ["entitlement:sap/vendor_create"],
        ["entitlement:sap/payment_approve", "role:payer"],
    ]
    body = {
        "code": "r2",
        "name": "R2",
        "owner": "cfo",
        "sides": [["role:payer"], ["entitlement:sap/report_view"]],
    }
    assert auditor.post("/api/v1/sod-rules/", body, format="json").status_code == 403
    assert client_for(sap["alice"]).get("/api/v1/sod-rules/").status_code == 403
    made = admin.post("/api/v1/sod-rules/", body, format="json")
    assert made.status_code == 201, made.json()
    bad = admin.post(
        "/api/v1/sod-rules/", {**body, "code": "r3", "sides": [["role:payer"], ["role:payer"]]}, format="json"
    )
    assert bad.status_code == 400 and "sides" in bad.json()["error"]["fields"]
    pk = made.json()["id"]
    assert (
        admin.patch(f"/api/v1/sod-rules/{pk}/", {"severity": "LOW"}, format="json").json()["severity"]
        == "LOW"
    )
    assert admin.delete(f"/api/v1/sod-rules/{pk}/").status_code == 204
    assert not SoDRule.objects.filter(pk=pk).exists()


def test_api_violations_exceptions_scan_and_sod_task_decision(sap):
    give(sap["alice"], sap["create"])
    give(sap["alice"], sap["pay"])
    admin, auditor = client_for(sap["admin"]), client_for(sap["auditor"])
    assert auditor.post("/api/v1/sod-violations/scan/").status_code == 403
    assert admin.post("/api/v1/sod-violations/scan/").json()["new"] == 1
    (row,) = auditor.get("/api/v1/sod-violations/").json()["results"]
    assert row["user"] == "alice" and row["status"] == "OPEN"
    cfo = client_for(sap["cfo"]) if sap["cfo"].console_role else None
    sap["cfo"].console_role = "AUDITOR"
    sap["cfo"].save()
    cfo = client_for(sap["cfo"])
    task_id = row["task"]
    missing = cfo.post(f"/api/v1/tasks/{task_id}/approve/", {"comment": "ok"}, format="json")
    assert missing.status_code == 400
    expiry = (timezone.now() + timedelta(days=5)).isoformat()
    done = cfo.post(
        f"/api/v1/tasks/{task_id}/approve/", {"comment": "ok", "exception_expires_at": expiry}, format="json"
    )
    assert done.status_code == 200, done.json()
    (exc,) = auditor.get("/api/v1/sod-exceptions/").json()["results"]
    assert exc["state"] == "Valid" and exc["user"] == "alice"
    assert auditor.post(f"/api/v1/sod-exceptions/{exc['id']}/revoke/").status_code == 403
    assert (
        admin.post(f"/api/v1/sod-exceptions/{exc['id']}/revoke/", {"reason": "audit"}).json()["state"]
        == "Revoked"
    )
    assert scan_violations()["reopened"] == 1
    schema = admin.get("/api/schema/?format=json")
    paths = (
        schema.json()["paths"]
        if schema.status_code == 200 and schema["Content-Type"].startswith("application/json")
        else {}
    )
    if paths:
        assert {"/api/v1/sod-rules/", "/api/v1/sod-violations/", "/api/v1/sod-exceptions/"} <= set(paths)


def test_the_dashboard_tile_counts_open_violations_by_severity_and_links_to_them(sap):
    give(sap["alice"], sap["create"])
    give(sap["alice"], sap["pay"])
    scan_violations()
    client = Client()
    client.force_login(sap["auditor"])
    body = client.get(reverse("console:dashboard")).content.decode()
    tile = body[body.index('id="dash-sod"') :]
    tile = tile[: tile.index("</section>")]
    assert "1 open" in tile
    link = f"{reverse('console_sod:violations')}?status=OPEN&amp;severity=CRITICAL"
    assert f'<a href="{link}">1</a>' in tile
    listing = client.get(reverse("console_sod:violations"), {"status": "OPEN", "severity": "CRITICAL"})
    name = sap["alice"].get_full_name()
    assert name in listing.content.decode()
    assert name not in client.get(reverse("console_sod:violations"), {"severity": "LOW"}).content.decode()

"""The set-based pipeline (``requests_process_many``): the same end state as ``request_process``
one request at a time, one effect when run twice, and a statement count that does not grow
with the batch."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from directory.models import (
    Account,
    EntitlementMembership,
    Management,
    MembershipRoleGrant,
    ProvisioningMode,
)
from provisioning.models import ProvisioningEntry
from requests_workflow.models import Request, RequestEvent, RequestStatus
from requests_workflow.services.bulk import requests_process_many
from requests_workflow.services.pipeline import request_process
from tests.api.factories import EntitlementFactory, ResourceFactory, UserFactory
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory
from worklist.models import Task

pytestmark = pytest.mark.django_db
R = RequestStatus


class _Undo(Exception):
    pass


def new_request(c: dict[str, Any], beneficiary, entitlement, **kw) -> Request:
    """A request as the import leaves it: NEW, validated (stage 2), nothing processed yet."""
    return Request.objects.create(
        type=kw.pop("type", "GRANT_ENTITLEMENT"),
        requester=c["admin"],
        beneficiary=beneficiary,
        source="import",
        entitlement=entitlement,
        justification="Bulk onboarding",
        stage=2,
        **kw,
    )


@pytest.fixture
def mixed(company) -> dict[str, Any]:
    """A batch mixing every case: grants needing nothing (new account, existing account), one
    matching an approval policy, one already held through a role, one on a resource that
    provisions, one starting later, one the directory refuses (identifier taken) and a revoke
    (not a set-based type)."""
    c = company
    crm = ResourceFactory(code="crm", name="CRM")
    crm.provisioning_modes = {
        **crm.provisioning_modes,
        "CREATE_ACCOUNT": ProvisioningMode.AUTOMATIC,
        "GRANT_ENTITLEMENT": ProvisioningMode.AUTOMATIC,
        "REVOKE_ENTITLEMENT": ProvisioningMode.MANUAL,
    }
    crm.save()
    leads = EntitlementFactory(resource=crm, identifier="leads", name="Leads")
    reports = EntitlementFactory(resource=c["app"], identifier="reports", name="Reports")
    secret = EntitlementFactory(resource=c["app"], identifier="secret", name="Secret")
    policy = ApprovalPolicyFactory(name="Secret needs the manager", entitlement=secret)
    ApprovalLevelFactory(policy=policy, position=1, approver_kind="MANAGER")
    users = {
        n: UserFactory(username=n, manager=c["boss"])
        for n in ("u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8")
    }
    # u2 has an account on erp already; u3 holds payments through a role; u6's username is
    # taken on erp by someone else's account; u5 holds reports manually (revoked below)
    Account.objects.create(resource=c["app"], owner=users["u2"], identifier="u2")
    a3 = Account.objects.create(resource=c["app"], owner=users["u3"], identifier="u3")
    EntitlementMembership.objects.create(
        account=a3, entitlement=c["ent"], management=Management.ROLE, manual=False
    )
    a5 = Account.objects.create(resource=c["app"], owner=users["u5"], identifier="u5")
    EntitlementMembership.objects.create(account=a5, entitlement=reports)
    Account.objects.create(resource=c["app"], owner=c["eve"], identifier="u6", account_type="REGULAR")
    a7 = Account.objects.create(resource=c["app"], owner=users["u7"], identifier="u7")
    m7 = EntitlementMembership.objects.create(account=a7, entitlement=reports, manual=False)
    MembershipRoleGrant.objects.create(membership=m7, role=c["role"])
    a8 = Account.objects.create(resource=crm, owner=users["u8"], identifier="u8")
    EntitlementMembership.objects.create(account=a8, entitlement=leads)
    later = timezone.now() + timedelta(days=3)
    reqs = [
        new_request(c, users["u1"], c["ent"]),  # new account, FINISHED
        new_request(c, users["u2"], reports),  # existing account
        new_request(c, users["u1"], secret),  # approval policy: WAITING_APPROVAL
        new_request(c, users["u3"], c["ent"]),  # held by role: kept manually
        new_request(c, users["u4"], leads),  # provisions: WAITING_PROVISIONING + 2 entries
        new_request(c, users["u4"], reports, start_at=later),  # starts later: APPROVED
        new_request(c, users["u6"], reports),  # identifier taken: FAILED
        new_request(c, users["u5"], reports, type="REVOKE_ENTITLEMENT", account=a5),
        new_request(c, users["u1"], reports),  # same new account as the first
        new_request(c, users["u7"], reports, type="REVOKE_ENTITLEMENT", account=a7),  # role-managed
        new_request(c, users["u8"], leads, type="REVOKE_ENTITLEMENT", account=a8),  # provisions
    ]
    return {**c, "reqs": reqs}


def snapshot(reqs: list[Request], audit_from: int) -> dict[str, Any]:
    """Everything the pipeline wrote, with database ids replaced by what they stand for."""
    index = {r.pk: i for i, r in enumerate(reqs)}
    accounts = {a.pk: f"{a.identifier}@{a.resource.code}" for a in Account.objects.select_related("resource")}
    members = {
        m.pk: (accounts[m.account_id], m.entitlement.identifier, m.management, m.manual)
        for m in EntitlementMembership.objects.select_related("entitlement")
    }
    entries = {}
    for e in ProvisioningEntry.objects.order_by("pk"):
        entries[e.pk] = (
            e.event_type,
            accounts.get(e.account_id),
            e.entitlement_id and e.entitlement.identifier,
            e.mode,
            e.status,
            e.payload,
            _cid(e.correlation_id, index),
        )

    def norm_result(result: dict[str, Any]) -> dict[str, Any]:
        out = dict(result)
        if "membership_id" in out:
            out["membership_id"] = members.get(out["membership_id"])
        if out.get("created_account_id"):
            out["created_account_id"] = accounts[out["created_account_id"]]
        if "provisioning_entries" in out:
            out["provisioning_entries"] = [entries[pk] for pk in out["provisioning_entries"]]
        return out

    def text(value: str) -> str:
        return re.sub(r"#(\d+)", lambda m: f"#r{index.get(int(m.group(1)), '?')}", value)

    state = []
    for req in Request.objects.filter(pk__in=index).order_by("pk"):
        audit = []
        for ev in AuditEvent.objects.filter(seq__gt=audit_from).order_by("seq"):
            mine = (ev.object_type == "requests_workflow.Request" and ev.object_id == str(req.pk)) or (
                ev.correlation_id == f"request-{req.pk}"
            )
            if not mine:
                continue
            new = dict(ev.new_values or {})
            if "result" in new:
                new["result"] = norm_result(new["result"])
            if ev.action.startswith(("membership.", "account.")):
                obj = None  # the object's id differs between the two runs
            else:
                obj = (
                    ev.object_id
                    if ev.object_type != "requests_workflow.Request"
                    else index[int(ev.object_id)]
                )
            audit.append(
                (
                    ev.action,
                    ev.actor_repr,
                    ev.source,
                    ev.object_type,
                    obj,
                    text(ev.object_repr),
                    ev.subject_user_id,
                    ev.old_values,
                    new,
                    _cid(ev.correlation_id, index),
                )
            )
        state.append(
            {
                "status": req.status,
                "stage": req.stage,
                "failure_reason": req.failure_reason,
                "account": accounts.get(req.account_id),
                "policy": req.approval_policy_id,
                "level": req.approval_level,
                "applied": req.applied_at is not None,
                "finished": req.finished_at is not None,
                "result": norm_result(req.result),
                "events": [
                    (e.stage, e.from_status, e.to_status, e.actor_id, text(e.message))
                    for e in RequestEvent.objects.filter(request=req).order_by("pk")
                ],
                "tasks": [
                    (t.kind, t.level, t.status, text(t.title), sorted(u.username for u in t.assignees.all()))
                    for t in Task.objects.filter(request=req).order_by("pk")
                ],
                "audit": audit,
            }
        )
    return {
        "requests": state,
        "memberships": sorted(members.values()),
        "accounts": sorted(
            (accounts[a.pk], a.status, a.management, a.manual, a.owner_id) for a in Account.objects.all()
        ),
        "entries": sorted(entries.values(), key=repr),
    }


def _cid(value: str, index: dict[int, int]) -> str:
    m = re.fullmatch(r"request-(\d+)", value or "")
    return f"request-r{index[int(m.group(1))]}" if m and int(m.group(1)) in index else "(task)"


def _run_and_snapshot(reqs: list[Request], fn) -> dict[str, Any]:
    """Run ``fn`` in a savepoint, snapshot, and undo it (so the other way starts the same)."""
    out: dict[str, Any] = {}
    try:
        with transaction.atomic():
            start = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
            fn()
            out = snapshot(reqs, start)
            raise _Undo
    except _Undo:
        pass
    return out


def test_batch_ends_exactly_as_one_by_one(mixed):
    reqs = mixed["reqs"]

    def one_by_one() -> None:
        for req in reqs:
            request_process(request_id=req.pk)

    def batch() -> None:
        counts = requests_process_many([r.pk for r in reqs])
        assert counts == {"set": 8, "single": 3, "skipped": 0}

    expected = _run_and_snapshot(reqs, one_by_one)
    got = _run_and_snapshot(reqs, batch)
    statuses = [r["status"] for r in expected["requests"]]
    assert statuses == [
        R.FINISHED,
        R.FINISHED,
        R.WAITING_APPROVAL,
        R.FINISHED,
        R.WAITING_PROVISIONING,
        R.APPROVED,
        R.FAILED,
        R.FINISHED,
        R.FINISHED,
        R.FAILED,
        R.WAITING_PROVISIONING,
    ]
    for i, (want, have) in enumerate(zip(expected["requests"], got["requests"], strict=True)):
        assert have == want, f"request r{i}"
    assert got == expected
    # what the cases were about
    assert ("u3@erp", "payments", Management.ROLE, True) in got["memberships"]
    assert len(got["requests"][4]["result"]["provisioning_entries"]) == 2
    assert "role" in got["requests"][9]["failure_reason"]
    assert got["requests"][10]["result"]["provisioning_entries"][0][0] == "REVOKE_ENTITLEMENT"
    assert ("u5@erp", "reports", Management.MANUAL, True) not in got["memberships"]


def test_twice_or_concurrently_one_effect(mixed, django_capture_on_commit_callbacks):
    reqs = mixed["reqs"]
    ids = [r.pk for r in reqs]
    first = requests_process_many(ids)
    events = RequestEvent.objects.count()
    audit = AuditEvent.objects.count()
    entries = ProvisioningEntry.objects.count()
    again = requests_process_many(ids)
    assert first["skipped"] == 0
    assert again == {"set": 0, "single": 0, "skipped": len(ids)}
    for req in reqs:  # a late per-request task does nothing either
        request_process(request_id=req.pk)
    assert (RequestEvent.objects.count(), AuditEvent.objects.count(), ProvisioningEntry.objects.count()) == (
        events,
        audit,
        entries,
    )
    assert audit_verify().ok  # mixed actors and correlation ids in one audit_record_many call


def test_repeated_and_unknown_ids(mixed):
    reqs = mixed["reqs"]
    counts = requests_process_many([reqs[0].pk, reqs[0].pk, 10**9])
    assert counts == {"set": 1, "single": 0, "skipped": 1}


@pytest.mark.django_db(transaction=True)
def test_a_request_locked_elsewhere_is_skipped_not_waited_for(company):
    """``process_request`` holding one of the batch's requests: the batch skips it (SKIP
    LOCKED) and does the others; the holder's processing is the only one."""
    held, other = (new_request(company, UserFactory(username=f"c{i}"), company["ent"]) for i in range(2))
    locked, release = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                Request.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(10)
                request_process(request_id=held.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert locked.wait(10)
    try:
        counts = requests_process_many([held.pk, other.pk])
    finally:
        release.set()
        thread.join(10)
    assert counts == {"set": 1, "single": 0, "skipped": 1}
    assert requests_process_many([held.pk, other.pk])["skipped"] == 2
    assert RequestEvent.objects.filter(request_id=held.pk, to_status=R.APPROVED).count() == 1
    assert set(Request.objects.filter(pk__in=[held.pk, other.pk]).values_list("status", flat=True)) == {
        R.FINISHED
    }


def test_statement_count_does_not_grow_with_the_batch(company, django_assert_max_num_queries):
    c = company
    crm = ResourceFactory(code="crm", name="CRM")
    crm.provisioning_modes = {**crm.provisioning_modes, "GRANT_ENTITLEMENT": ProvisioningMode.AUTOMATIC}
    crm.save()
    ents = [c["ent"], EntitlementFactory(resource=crm, identifier="leads")]

    held = EntitlementFactory(resource=crm, identifier="held")

    def batch(n: int, prefix: str) -> list[int]:
        """n grants (half with a new account, half provisioning) and n revokes."""
        users = [UserFactory(username=f"{prefix}{i}") for i in range(n)]
        ids = [new_request(c, u, ents[i % 2]).pk for i, u in enumerate(users)]
        for u in users:
            account = Account.objects.create(resource=crm, owner=u, identifier=f"x{u.username}")
            EntitlementMembership.objects.create(account=account, entitlement=held)
            ids.append(new_request(c, u, held, type="REVOKE_ENTITLEMENT", account=account).pk)
        return ids

    small, large = batch(5, "s"), batch(100, "l")
    with django_assert_max_num_queries(30) as small_q:
        requests_process_many(small)
    with django_assert_max_num_queries(len(small_q.captured_queries)):
        requests_process_many(large)
    assert (
        Request.objects.filter(pk__in=large, status__in=[R.FINISHED, R.WAITING_PROVISIONING]).count() == 200
    )


def test_import_runs_its_batch_set_based(company, django_capture_on_commit_callbacks):
    from requests_workflow.tasks import process_requests_batch

    reqs = [new_request(company, UserFactory(username=f"t{i}"), company["ent"]) for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        transaction.on_commit(lambda: process_requests_batch.delay([r.pk for r in reqs]))
    assert {r.status for r in Request.objects.filter(pk__in=[r.pk for r in reqs])} == {R.FINISHED}


def test_an_error_in_one_request_leaves_the_rest_of_the_batch(mixed, monkeypatch):
    """A request the per-request path crashes on stays NEW (as after its own failed task);
    the batch goes on."""
    from requests_workflow.services import bulk

    reqs = mixed["reqs"]
    real = bulk.request_process

    def crashing(*, request_id: int):
        if request_id == reqs[2].pk:
            raise ValueError("boom")
        return real(request_id=request_id)

    monkeypatch.setattr(bulk, "request_process", crashing)
    requests_process_many([r.pk for r in reqs])
    statuses = dict(Request.objects.filter(pk__in=[r.pk for r in reqs]).values_list("pk", "status"))
    assert statuses[reqs[2].pk] == R.NEW
    assert not RequestEvent.objects.filter(request_id=reqs[2].pk, stage=3).exists()
    assert statuses[reqs[0].pk] == R.FINISHED and statuses[reqs[6].pk] == R.FAILED

"""Stages 4–5: persistence, provisioning, rollback on final provisioning failure, cancel, and
running a stage twice."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed, TransitionNotAllowed
from directory.models import Account, AccountStatus, EntitlementMembership, ProvisioningMode, RoleMembership
from directory.services import access, lifecycle
from provisioning.models import ProvisioningEntry
from requests_workflow.models import Request, RequestEvent, RequestStatus
from requests_workflow.services.pipeline import request_process, request_provisioning_result
from requests_workflow.services.requests import request_cancel, request_create
from requests_workflow.tasks import process_request
from tests.requests_workflow.factories import ApprovalLevelFactory
from worklist.models import Task, TaskStatus

pytestmark = pytest.mark.django_db
R = RequestStatus


@pytest.fixture
def provisioned(company):
    app = company["app"]
    app.provisioning_modes = {
        **app.provisioning_modes,
        **{
            e: ProvisioningMode.AUTOMATIC
            for e in (
                "CREATE_ACCOUNT",
                "GRANT_ENTITLEMENT",
                "REVOKE_ACCOUNT",
                "REVOKE_ENTITLEMENT",
                "INACTIVATE_ACCOUNT",
                "ACTIVATE_ACCOUNT",
            )
        },
    }
    app.save()
    return company


def create(run, c, code, **kw):
    kw.setdefault("beneficiary", c["alice"])
    return run(request_create, actor=c["admin"], source="api", request_type=code, justification="j", **kw)


def test_provisioned_change_waits_then_finishes(provisioned, run):
    c = provisioned
    req = create(run, c, "CREATE_ACCOUNT", resource=c["app"])
    assert req.status == R.WAITING_PROVISIONING
    entry = ProvisioningEntry.objects.get(pk__in=req.result["provisioning_entries"])
    assert entry.event_type == "CREATE_ACCOUNT" and entry.correlation_id == f"request-{req.pk}"
    request_provisioning_result(request=req, ok=True, detail="created in ERP")
    req.refresh_from_db()
    assert req.status == R.FINISHED
    # reported twice: nothing more happens
    request_provisioning_result(request=req, ok=False, detail="late duplicate")
    req.refresh_from_db()
    assert req.status == R.FINISHED


def test_failed_provisioning_of_a_new_account_rolls_the_directory_back(provisioned, run):
    c = provisioned
    req = create(run, c, "CREATE_ACCOUNT", resource=c["app"])
    request_provisioning_result(request=req, ok=False, detail="ERP unreachable after 5 attempts")
    req.refresh_from_db()
    assert req.status == R.FAILED
    assert "ERP unreachable" in req.failure_reason and "removed (never provisioned)" in req.failure_reason
    assert not Account.objects.filter(pk=req.result["account_id"]).exists()


def test_failed_provisioning_of_a_grant_revokes_membership_and_new_account(provisioned, run):
    c = provisioned
    req = create(run, c, "GRANT_ENTITLEMENT", entitlement=c["ent"])
    assert req.status == R.WAITING_PROVISIONING and len(req.result["provisioning_entries"]) == 2
    request_provisioning_result(request=req, ok=False, detail="group not found")
    req.refresh_from_db()
    assert req.status == R.FAILED
    assert not EntitlementMembership.objects.filter(account__owner=c["alice"], entitlement=c["ent"]).exists()
    assert not Account.objects.filter(pk=req.result["created_account_id"]).exists()


def test_failed_provisioning_of_an_inactivation_restores_the_account(provisioned, run):
    c = provisioned
    account = access.account_create(actor=None, source="console", resource=c["app"], owner=c["alice"])
    req = create(run, c, "INACTIVATE_ACCOUNT", account=account)
    assert req.status == R.WAITING_PROVISIONING
    request_provisioning_result(request=req, ok=False, detail="denied")
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_failed_provisioning_of_a_revocation_restores_the_account_and_its_entitlements(provisioned, run):
    """Seed 002: a REVOKE_ACCOUNT the application refuses is rolled back, so the directory
    matches the application, which still has the account and its groups."""
    c = provisioned
    account = access.account_create(actor=None, source="console", resource=c["app"], owner=c["alice"])
    access.membership_grant(actor=None, source="console", account=account, entitlement=c["ent"])
    lifecycle.account_inactivate(actor=None, source="console", account=account)
    entries_before = ProvisioningEntry.objects.count()
    req = create(run, c, "REVOKE_ACCOUNT", account=account)
    assert req.status == R.WAITING_PROVISIONING
    account.refresh_from_db()
    assert account.status == AccountStatus.REVOKED
    assert not EntitlementMembership.objects.filter(account=account).exists()
    revoke_entries = ProvisioningEntry.objects.count() - entries_before

    request_provisioning_result(request=req, ok=False, detail="account locked by the ERP")

    req.refresh_from_db()
    assert req.status == R.FAILED
    assert "restored to INACTIVE" in req.failure_reason, req.failure_reason
    account.refresh_from_db()
    assert account.status == AccountStatus.INACTIVE
    assert EntitlementMembership.objects.filter(account=account, entitlement=c["ent"]).exists()
    # directory only: the application never lost the account, nothing more is sent to it
    assert ProvisioningEntry.objects.count() - entries_before == revoke_entries
    restored = AuditEvent.objects.get(action="account.restored", object_id=str(account.pk))
    assert restored.source == "automatic"
    assert restored.new_values["entitlements_restored"] == [c["ent"].pk]


def test_a_revocation_is_not_restored_when_the_owner_has_left_meanwhile(provisioned, run):
    c = provisioned
    account = access.account_create(actor=None, source="console", resource=c["app"], owner=c["alice"])
    req = create(run, c, "REVOKE_ACCOUNT", account=account)
    lifecycle.user_revoke(actor=None, source="console", user=c["alice"])

    request_provisioning_result(request=req, ok=False, detail="denied")

    req.refresh_from_db()
    account.refresh_from_db()
    assert req.status == R.FAILED and "rollback refused" in req.failure_reason
    assert "REVOKED" in req.failure_reason
    assert account.status == AccountStatus.REVOKED


def test_a_directory_refusal_fails_the_request_with_nothing_half_done(company, run):
    c = company
    req = request_create(
        actor=c["admin"],
        source="api",
        request_type="GRANT_ROLE",
        beneficiary=c["alice"],
        role=c["role"],
        justification="j",
    )
    # between creation and execution the user got the role another way
    access.role_grant(actor=None, source="console", user=c["alice"], role=c["role"])
    request_process(request_id=req.pk)
    req.refresh_from_db()
    assert req.status == R.FAILED and "already has the role" in req.failure_reason
    assert RoleMembership.objects.filter(user=c["alice"], role=c["role"]).count() == 1
    assert req.applied_at is None


def test_running_the_stage_task_twice_has_one_effect(company):
    c = company
    req = request_create(
        actor=c["admin"],
        source="api",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=c["alice"],
        entitlement=c["ent"],
        justification="j",
    )  # on-commit not run: we run the task by hand
    process_request.apply(args=[req.pk])
    events = RequestEvent.objects.filter(request=req).count()
    process_request.apply(args=[req.pk])
    req.refresh_from_db()
    assert req.status == R.FINISHED
    assert RequestEvent.objects.filter(request=req).count() == events
    assert EntitlementMembership.objects.filter(account__owner=c["alice"], entitlement=c["ent"]).count() == 1
    assert Account.objects.filter(owner=c["alice"], resource=c["app"]).count() == 1


def test_cancel_before_stage_four(company, run):
    c = company
    ApprovalLevelFactory(approver_kind="OWNER")
    req = run(
        request_create,
        actor=c["alice"],
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=c["alice"],
        role=c["role"],
        justification="j",
    )
    assert req.status == R.WAITING_APPROVAL
    with pytest.raises(NotAllowed):
        request_cancel(actor=c["eve"], source="workspace", request=req)
    request_cancel(actor=c["alice"], source="workspace", request=req, reason="changed my mind")
    req.refresh_from_db()
    assert req.status == R.CANCELED
    assert not Task.objects.filter(request=req, status=TaskStatus.OPEN).exists()
    assert not RoleMembership.objects.filter(user=c["alice"], role=c["role"]).exists()
    # a canceled request frees the slot: the same request can be made again
    again = request_create(
        actor=c["alice"],
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=c["alice"],
        role=c["role"],
        justification="j",
    )
    assert again.pk != req.pk


def test_no_cancel_after_the_directory_changed(company, run):
    c = company
    lifecycle.user_lock(actor=None, source="console", user=c["eve"])
    req = create(run, c, "UNLOCK_USER", beneficiary=c["eve"])
    assert req.status == R.FINISHED
    with pytest.raises(TransitionNotAllowed, match="before it is applied"):
        request_cancel(actor=c["admin"], source="console", request=req)
    assert Request.objects.get(pk=req.pk).status == R.FINISHED


def test_status_table_refuses_a_forbidden_move(company, run):
    from requests_workflow.services.common import request_move

    req = create(run, company, "LOCK_USER")
    assert req.status == R.FINISHED
    with pytest.raises(TransitionNotAllowed, match="FINISHED: it cannot become APPROVED"):
        request_move(req, R.APPROVED, stage=3, actor=None, message="again")
    assert Request.objects.get(pk=req.pk).status == R.FINISHED


def test_vault_types_call_the_vault_service_once_it_exists(company, run, monkeypatch):
    """CHECKIN_ADMIN_ACCOUNT is ready for the PAM issue: when vault.services.checkout_open exists
    the request goes through and calls it with the account, the beneficiary and the request."""
    import vault.services
    from directory.models import AccountType
    from tests.api.factories import AccountFactory

    calls = []
    monkeypatch.setattr(vault.services, "checkout_open", lambda **kw: calls.append(kw), raising=False)
    c = company
    account = AccountFactory(
        resource=c["app"], owner=None, responsible=c["alice"], account_type=AccountType.ADMINISTRATIVE
    )
    req = run(
        request_create,
        actor=c["alice"],
        source="workspace",
        request_type="CHECKIN_ADMIN_ACCOUNT",
        account=account,
        justification="maintenance window",
    )
    assert req.status == R.FINISHED
    (call,) = calls
    assert call["account"] == account and call["user"] == c["alice"] and call["request_id"] == req.pk


def test_any_active_user_may_ask_to_check_in_an_administrative_account(company, run, monkeypatch):
    import vault.services
    from directory.models import AccountType
    from tests.api.factories import AccountFactory

    calls = []
    monkeypatch.setattr(vault.services, "checkout_open", lambda **kw: calls.append(kw), raising=False)
    c = company
    account = AccountFactory(
        resource=c["app"], owner=None, responsible=c["owner"], account_type=AccountType.ADMINISTRATIVE
    )
    req = run(
        request_create,
        actor=c["eve"],
        source="workspace",
        request_type="CHECKIN_ADMIN_ACCOUNT",
        beneficiary=c["eve"],
        account=account,
        justification="incident 42",
    )
    assert req.status == R.FINISHED and calls[0]["user"] == c["eve"]

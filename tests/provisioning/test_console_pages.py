"""Console pages of provisioning: the queue (filters, no N+1), entry detail (secrets masked),
retry/cancel (administrators only, CSRF), adapter health, the dashboard tile, the resource's
provisioning tab (adapter, retry policy, test connection); and revealing a manual task's
password in the workspace (assignees only, audited)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole, ProvisioningMode
from provisioning.models import EntryStatus, ProvisioningEntry, ResourceRetryPolicy
from provisioning.services.adapter import entries_pull
from provisioning.subjects import ENTRY_SUBJECT
from requests_workflow.models import Request
from tests.api.factories import AccountFactory, UserFactory
from tests.provisioning.conftest import make_entry
from vault.models import SecretKind
from vault.services import secret_store
from worklist.models import Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db
QUEUE = reverse("console_provisioning:queue")
HEALTH = reverse("console_provisioning:health")


def login(user, **kw) -> Client:
    client = Client(**kw)
    client.force_login(user)
    return client


@pytest.fixture
def admin(db):
    return login(UserFactory(username="boss", console_role=ConsoleRole.ADMINISTRATOR))


@pytest.fixture
def helpdesk(db):
    return login(UserFactory(username="desk", console_role=ConsoleRole.HELPDESK))


def test_queue_filters_and_has_no_n_plus_one(world, admin):
    req = Request.objects.create(
        type="GRANT_ENTITLEMENT",
        requester=world["alice"],
        beneficiary=world["alice"],
        entitlement=world["ent"],
        source="workspace",
    )
    for _ in range(2):
        make_entry(world["erp"], account=world["account"], correlation_id=f"request-{req.pk}", request=req)
    # the tag alone links nothing: the request is the entry's foreign key
    make_entry(world["erp"], account=world["account"], correlation_id="request-999")
    make_entry(world["crm"], "GRANT_ENTITLEMENT", status=EntryStatus.FAILED, last_error="boom")
    with CaptureQueriesContext(connection) as few:
        assert admin.get(QUEUE).status_code == 200
    for _ in range(20):
        make_entry(world["erp"], account=world["account"], entitlement=world["ent"])
    with CaptureQueriesContext(connection) as many:
        page = admin.get(QUEUE)
    assert len(many) == len(few)
    text = page.content.decode()
    assert "1–25 of 24" not in text and "of 24" in text
    failed = admin.get(QUEUE, {"status": "FAILED"}).content.decode()
    assert "boom" in failed and "alice" not in failed
    by_resource = admin.get(
        QUEUE, {"resource": world["crm"].pk, "event": "GRANT_ENTITLEMENT"}
    ).content.decode()
    assert "of 1" in by_resource
    assert (
        f'href="/console/requests/{req.pk}/"' in admin.get(QUEUE, {"q": f"request-{req.pk}"}).content.decode()
    )
    assert "/console/requests/999/" not in admin.get(QUEUE, {"q": "request-999"}).content.decode()


def test_stuck_filter_and_dashboard_tile(world, admin):
    old = make_entry(world["erp"])
    ProvisioningEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    make_entry(world["erp"])  # fresh: not stuck
    make_entry(world["crm"], status=EntryStatus.WAITING_FAILOVER_RESOLVING)
    stuck = admin.get(QUEUE, {"stuck": "1"}).content.decode()
    assert "of 2" in stuck and f"#{old.pk}<" in stuck
    dashboard = admin.get(reverse("console:dashboard")).content.decode()
    assert 'id="stuck-provisioning"' in dashboard and f"{QUEUE}?stuck=1" in dashboard
    assert '<span class="badge warn">2</span>' in dashboard


def test_entry_detail_masks_secrets(world, helpdesk):
    entry = make_entry(
        world["erp"], "CHANGE_PASSWORD", payload={"secret_id": "1234-abcd", "identifier": "alice"}
    )
    page = helpdesk.get(reverse("console_provisioning:entry", args=[entry.pk])).content.decode()
    assert "1234-abcd" not in page and "***" in page and "alice" in page
    assert "retry-form" not in page and "cancel-form" not in page  # view only


def test_retry_and_cancel_from_the_console(world, admin):
    failed = make_entry(world["erp"], status=EntryStatus.FAILED)
    page = admin.get(reverse("console_provisioning:entry", args=[failed.pk])).content.decode()
    assert "retry-form" in page and "cancel-form" in page
    admin.post(reverse("console_provisioning:entry_action", args=[failed.pk, "retry"]))
    assert ProvisioningEntry.objects.get(pk=failed.pk).status == EntryStatus.PENDING
    refused = admin.post(
        reverse("console_provisioning:entry_action", args=[failed.pk, "cancel"]), {"reason": ""}, follow=True
    )
    assert "Say why the entry is canceled." in refused.content.decode()
    assert ProvisioningEntry.objects.get(pk=failed.pk).status == EntryStatus.PENDING
    admin.post(
        reverse("console_provisioning:entry_action", args=[failed.pk, "cancel"]), {"reason": "done by hand"}
    )
    assert ProvisioningEntry.objects.get(pk=failed.pk).status == EntryStatus.CANCELED
    again = admin.post(reverse("console_provisioning:entry_action", args=[failed.pk, "retry"]), follow=True)
    assert "only a failed entry" in again.content.decode()


def test_non_administrators_are_refused(world, helpdesk, db):
    entry = make_entry(world["erp"], status=EntryStatus.FAILED)
    for action in ("retry", "cancel"):
        url = reverse("console_provisioning:entry_action", args=[entry.pk, action])
        assert helpdesk.post(url, {"reason": "x"}).status_code == 403
    assert (
        helpdesk.get(reverse("console_provisioning:retry_policy", args=[world["erp"].pk])).status_code == 403
    )
    assert ProvisioningEntry.objects.get(pk=entry.pk).status == EntryStatus.FAILED
    plain = login(UserFactory(username="nobody"))
    assert plain.get(QUEUE).status_code == 403 and plain.get(HEALTH).status_code == 403
    assert helpdesk.get(QUEUE).status_code == 200 and helpdesk.get(HEALTH).status_code == 200


def test_forms_need_the_csrf_token(world, db):
    client = login(UserFactory(console_role=ConsoleRole.ADMINISTRATOR), enforce_csrf_checks=True)
    entry = make_entry(world["erp"], status=EntryStatus.FAILED)
    assert (
        client.post(reverse("console_provisioning:entry_action", args=[entry.pk, "retry"])).status_code == 403
    )
    assert ProvisioningEntry.objects.get(pk=entry.pk).status == EntryStatus.FAILED


def test_adapter_health(world, admin):
    make_entry(world["erp"])
    make_entry(world["erp"], mode=ProvisioningMode.MANUAL)  # not the adapter's backlog
    entries_pull(client=world["erp_client"], limit=1)
    make_entry(world["erp"])
    make_entry(
        world["erp"], status=EntryStatus.SUCCEEDED, lease_owner=world["erp_client"], updated_at=timezone.now()
    )
    make_entry(
        world["erp"],
        status=EntryStatus.WAITING_FAILOVER_RESOLVING,
        lease_owner=world["erp_client"],
        updated_at=timezone.now(),
    )
    with CaptureQueriesContext(connection) as ctx:
        page = admin.get(HEALTH)
    assert len(ctx) < 15
    text = page.content.decode()
    assert "erp-adapter" in text and "crm-adapter" in text and "never" in text  # crm never polled
    assert "50.0 %" in text  # one success, one failure in 24 h


def test_resource_tab_retry_policy_and_test_connection(world, admin, helpdesk):
    erp = world["erp"]
    tab = admin.get(
        reverse("console:resource_detail", args=[erp.pk]), {"tab": "provisioning"}
    ).content.decode()
    assert "erp-adapter" in tab and "Test connection" in tab and "(default)" in tab
    url = reverse("console_provisioning:retry_policy", args=[erp.pk])
    bad = admin.post(
        url, {"max_transient_failures": "0", "backoff_seconds": "60", "backoff_max_seconds": "10"}
    )
    assert bad.status_code == 200 and "From 1 to 100" in bad.content.decode()
    assert not ResourceRetryPolicy.objects.exists()
    admin.post(url, {"max_transient_failures": "3", "backoff_seconds": "60", "backoff_max_seconds": ""})
    policy = ResourceRetryPolicy.objects.get(resource=erp)
    assert policy.max_transient_failures == 3 and policy.backoff_max_seconds is None
    test = reverse("console_provisioning:test_connection", args=[erp.pk])
    never = helpdesk.post(test, follow=True).content.decode()
    assert "has polled yet" in never
    entries_pull(client=world["erp_client"])
    ok = helpdesk.post(test, follow=True).content.decode()
    assert "An adapter of ERP polled at" in ok
    world["erp_client"].__class__.objects.update(last_poll_at=timezone.now() - timedelta(hours=1))
    assert "more than 5 minutes ago" in helpdesk.post(test, follow=True).content.decode()


@pytest.fixture
def password_task(world, settings):
    from tests.vault.conftest import keys

    settings.BLAZON_VAULT_KEYS = keys(1)
    secret = secret_store(
        actor=None,
        source="console",
        owner=None,
        kind=SecretKind.ACCOUNT_PASSWORD,
        name="alice@erp",
        value="S3cret-Initial-Pass!",
        account=world["account"],
    )
    task = Task.objects.create(kind=TaskKind.PROVISIONING, title="set the password by hand")
    task.assignees.add(world["owner"])
    entry = make_entry(
        world["erp"],
        "CHANGE_PASSWORD",
        mode=ProvisioningMode.MANUAL,
        account=world["account"],
        manual_task=task,
        payload={"secret_id": str(secret.pk)},
    )
    # the typed link the manual-task services set (provisioning.subjects)
    task.subject_kind, task.subject_id = ENTRY_SUBJECT, entry.pk
    task.save(update_fields=["subject_kind", "subject_id"])
    return task


def test_an_assignee_reveals_the_password_audited(world, password_task, caplog):
    owner = login(world["owner"])
    page_url = reverse("workspace_requests:task", args=[password_task.pk])
    page = owner.get(page_url).content.decode()
    assert "Reveal the password" in page and "S3cret-Initial-Pass!" not in page
    assert "S3cret-Initial-Pass!" not in owner.get(reverse("workspace_requests:tasks")).content.decode()
    revealed = owner.post(reverse("workspace_requests:provisioning_reveal", args=[password_task.pk]))
    assert revealed.status_code == 200 and "S3cret-Initial-Pass!" in revealed.content.decode()
    assert revealed["Cache-Control"] == "no-store"
    assert AuditEvent.objects.filter(action="vault.secret.revealed", actor_id=world["owner"].pk).count() == 1
    event = AuditEvent.objects.get(action="provisioning.secret_revealed")
    assert event.new_values["task"] == password_task.pk
    assert "S3cret-Initial-Pass!" not in str(list(AuditEvent.objects.values_list("new_values", flat=True)))
    assert "S3cret-Initial-Pass!" not in caplog.text
    assert "S3cret-Initial-Pass!" not in owner.get(page_url).content.decode()  # shown once


def test_non_assignees_cannot_reveal(world, password_task):
    admin = login(UserFactory(console_role=ConsoleRole.ADMINISTRATOR, username="root"))
    url = reverse("workspace_requests:provisioning_reveal", args=[password_task.pk])
    assert admin.post(url).status_code in (403, 404)  # an administrator is not an assignee
    assert login(UserFactory(username="eve")).post(url).status_code == 404
    assert not AuditEvent.objects.filter(action="vault.secret.revealed").exists()
    Task.objects.filter(pk=password_task.pk).update(status=TaskStatus.APPROVED)
    closed = login(world["owner"]).post(url)
    assert closed.status_code == 404  # closed tasks are not "my tasks" any more


def test_an_administrator_resolves_an_unassigned_manual_task_in_the_console(world, admin):
    task = Task.objects.create(kind=TaskKind.PROVISIONING, title="by hand")
    entry = make_entry(world["crm"], mode=ProvisioningMode.MANUAL, manual_task=task)
    page = admin.get(reverse("console_provisioning:entry", args=[entry.pk])).content.decode()
    assert "resolve-done-form" in page
    admin.post(reverse("console_provisioning:entry_resolve", args=[entry.pk, "done"]), {"comment": "done"})
    entry.refresh_from_db()
    task.refresh_from_db()
    assert entry.status == EntryStatus.SUCCEEDED and task.status == TaskStatus.APPROVED


def test_queue_search_finds_entries_by_request_user_account_or_id(world, admin):
    bob = UserFactory(username="bob.santos", first_name="Bob", last_name="Santos")
    bobs = AccountFactory(resource=world["crm"], owner=bob, identifier="bsantos")
    req = Request.objects.create(
        type="GRANT_ENTITLEMENT", requester=bob, beneficiary=bob, entitlement=world["ent"], source="workspace"
    )
    of_request = make_entry(world["erp"], account=world["account"], request=req)
    of_bob = make_entry(world["crm"], account=bobs)
    of_alice = make_entry(world["erp"], account=world["account"])

    def found(q):
        page = admin.get(QUEUE, {"q": q})
        assert page.status_code == 200
        return {e.pk for e in page.context["object_list"]}

    # a client-chosen correlation id that looks like the request's links nothing: the typed link decides
    make_entry(world["crm"], correlation_id=f"request-{req.pk}")
    for q in (f"request {req.pk}", f"request-{req.pk}", f"r{req.pk}", f"Request #{req.pk}"):
        assert found(q) == {of_request.pk}, q
    assert found(f"#{of_bob.pk}") == {of_bob.pk}
    assert found("Santos") == found("bob.san") == found("bsant") == {of_bob.pk}
    assert found("alice") == {of_request.pk, of_alice.pk}
    assert found("nobody-like-this") == set()
    assert found("#x") == set() and found("'; drop table") == set()  # bad input: no match, no error


def test_resolving_as_not_possible_needs_a_reason_and_an_unknown_button_is_not_found(world, admin, helpdesk):
    task = Task.objects.create(kind=TaskKind.PROVISIONING, title="by hand")
    entry = make_entry(world["crm"], mode=ProvisioningMode.MANUAL, manual_task=task)
    before = entry.status
    failed = reverse("console_provisioning:entry_resolve", args=[entry.pk, "failed"])
    assert helpdesk.post(failed, {"reason": "no licence"}).status_code == 403
    assert admin.get(failed).status_code == 405
    refused = admin.post(failed, {"reason": "  "}, follow=True)
    assert "Say why the change could not be made." in refused.content.decode()
    assert (
        admin.post(reverse("console_provisioning:entry_resolve", args=[entry.pk, "maybe"])).status_code == 404
    )
    assert (
        admin.post(reverse("console_provisioning:entry_action", args=[entry.pk, "redo"])).status_code == 404
    )
    entry.refresh_from_db()
    assert entry.status == before != EntryStatus.FAILED
    assert not AuditEvent.objects.filter(action="provisioning.entry_failed").exists()
    done = admin.post(failed, {"reason": "no licence left"}, follow=True)
    assert f"Entry #{entry.pk} recorded as not possible" in done.content.decode()
    entry.refresh_from_db()
    assert (
        entry.status == EntryStatus.FAILED
        and AuditEvent.objects.filter(action="provisioning.entry_failed").exists()
    )

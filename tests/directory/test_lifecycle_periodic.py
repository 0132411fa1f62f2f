"""Periodic life-cycle jobs (automatic revocation after N days inactive, purge of REMOVED users,
expiry of temporary accounts), their Celery tasks, and the cascade's query bound."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from directory import tasks
from directory.models import (
    Account,
    AccountStatus,
    DirectoryEvent,
    DirectoryEventKind,
    Entitlement,
    EntitlementMembership,
    ProvisioningEvent,
    Source,
    User,
    UserStatus,
)
from directory.services import lifecycle
from provisioning.models import ProvisioningEntry
from tests.directory.test_lifecycle import account, make_resource, make_user

pytestmark = pytest.mark.django_db


def days_ago(n: float):
    return timezone.now() - timedelta(days=n)


# ---------------------------------------------------------------------------------------------
# Automatic revocation of long-inactive users
# ---------------------------------------------------------------------------------------------


def test_users_inactive_longer_than_the_setting_are_revoked_automatically(settings):
    settings.BLAZON_AUTO_REVOKE_INACTIVE_DAYS = 90
    old = make_user(status=UserStatus.INACTIVE, inactive_since=days_ago(91))
    acc = account(make_resource(), owner=old, status=AccountStatus.INACTIVE)
    recent = make_user(status=UserStatus.INACTIVE, inactive_since=days_ago(10))
    active = make_user(status=UserStatus.ACTIVE, inactive_since=days_ago(200))

    assert lifecycle.users_auto_revoke_inactive() == 1

    statuses = dict(User.objects.values_list("pk", "status"))
    assert statuses[old.pk] == UserStatus.REVOKED
    assert statuses[recent.pk] == UserStatus.INACTIVE
    assert statuses[active.pk] == UserStatus.ACTIVE
    acc.refresh_from_db()
    assert acc.status == AccountStatus.REVOKED
    event = AuditEvent.objects.get(action="user.revoked")
    assert event.source == Source.AUTOMATIC and event.actor_id is None
    assert ProvisioningEntry.objects.filter(account=acc, event_type=ProvisioningEvent.REVOKE_ACCOUNT).exists()
    # running again finds nothing left to do
    assert lifecycle.users_auto_revoke_inactive() == 0


def test_auto_revoke_days_argument_overrides_the_setting_and_zero_disables(settings):
    settings.BLAZON_AUTO_REVOKE_INACTIVE_DAYS = 0
    user = make_user(status=UserStatus.INACTIVE, inactive_since=days_ago(400))
    assert lifecycle.users_auto_revoke_inactive() == 0
    user.refresh_from_db()
    assert user.status == UserStatus.INACTIVE
    assert lifecycle.users_auto_revoke_inactive(days=30) == 1
    user.refresh_from_db()
    assert user.status == UserStatus.REVOKED


# ---------------------------------------------------------------------------------------------
# Automatic removal of revoked users (seed 002: "Removido ... automaticamente, após a revogação")
# ---------------------------------------------------------------------------------------------


def test_users_revoked_longer_than_the_setting_are_removed_once_their_revocation_is_settled(settings):
    settings.BLAZON_AUTO_REMOVE_REVOKED_DAYS = 30
    resource = make_resource()
    settled = make_user(status=UserStatus.ACTIVE)
    account(resource, owner=settled)
    lifecycle.user_revoke(actor=None, source=Source.CONSOLE, user=settled)
    ProvisioningEntry.objects.filter(user_id_ref=settled.pk).update(status="SUCCEEDED")
    waiting = make_user(status=UserStatus.ACTIVE)
    account(resource, owner=waiting)
    lifecycle.user_revoke(actor=None, source=Source.CONSOLE, user=waiting)  # its entry stays PENDING
    recent = make_user(status=UserStatus.ACTIVE)
    lifecycle.user_revoke(actor=None, source=Source.CONSOLE, user=recent)
    User.objects.filter(pk__in=[settled.pk, waiting.pk]).update(revoked_at=days_ago(31))
    User.objects.filter(pk=recent.pk).update(revoked_at=days_ago(2))

    assert lifecycle.users_auto_remove_revoked() == 1

    statuses = dict(User.objects.values_list("pk", "status"))
    assert statuses[settled.pk] == UserStatus.REMOVED
    assert statuses[waiting.pk] == UserStatus.REVOKED  # the application has not confirmed yet
    assert statuses[recent.pk] == UserStatus.REVOKED
    event = AuditEvent.objects.get(action="user.removed", object_id=str(settled.pk))
    assert event.source == Source.AUTOMATIC and event.actor_id is None
    assert event.new_values["status"] == UserStatus.REMOVED
    assert audit_verify().ok

    # once the application confirms, the next run removes the other one too
    ProvisioningEntry.objects.filter(user_id_ref=waiting.pk).update(status="SUCCEEDED")
    assert tasks.auto_remove_revoked_users.delay().get() == 1
    waiting.refresh_from_db()
    assert waiting.status == UserStatus.REMOVED and waiting.removed_at is not None


def test_auto_remove_zero_disables_and_the_job_is_scheduled(settings):
    settings.BLAZON_AUTO_REMOVE_REVOKED_DAYS = 0
    user = make_user(status=UserStatus.ACTIVE)
    lifecycle.user_revoke(actor=None, source=Source.CONSOLE, user=user)
    User.objects.filter(pk=user.pk).update(revoked_at=days_ago(400))
    assert lifecycle.users_auto_remove_revoked() == 0
    user.refresh_from_db()
    assert user.status == UserStatus.REVOKED
    assert lifecycle.users_auto_remove_revoked(days=30) == 1
    schedule = {e["task"] for e in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "directory.tasks.auto_remove_revoked_users" in schedule


# ---------------------------------------------------------------------------------------------
# Purge of REMOVED users
# ---------------------------------------------------------------------------------------------


def test_removed_users_past_retention_are_deleted_and_the_audit_stays(settings):
    settings.BLAZON_PURGE_REMOVED_AFTER_DAYS = 30
    gone = make_user(status=UserStatus.ACTIVE)
    acc = account(make_resource(), owner=gone)
    lifecycle.user_remove(actor=None, source=Source.CONSOLE, user=gone)
    User.objects.filter(pk=gone.pk).update(removed_at=days_ago(31))
    fresh = make_user(status=UserStatus.REMOVED, removed_at=days_ago(5))
    revoked = make_user(status=UserStatus.REVOKED, revoked_at=days_ago(100))
    audit_before = AuditEvent.objects.filter(subject_user_id=gone.pk).count()

    assert lifecycle.users_purge_removed() == 1

    assert not User.objects.filter(pk=gone.pk).exists()
    assert not Account.objects.filter(pk=acc.pk).exists()
    assert User.objects.filter(pk__in=[fresh.pk, revoked.pk]).count() == 2
    # the history stays, plus one event saying the user was purged
    assert AuditEvent.objects.filter(subject_user_id=gone.pk).count() == audit_before + 1
    assert AuditEvent.objects.filter(action="user.purged", object_id=str(gone.pk)).exists()
    assert audit_verify().ok


def test_purge_deletes_an_actor_and_leaves_their_audit_events_untouched(settings):
    """The audit rows an actor wrote keep their id and name; the chain still verifies."""
    actor = make_user()
    target = make_user()
    lifecycle.user_lock(actor=actor, source=Source.CONSOLE, user=target)
    lifecycle.user_remove(actor=None, source=Source.CONSOLE, user=actor, without_revoke=True)
    User.objects.filter(pk=actor.pk).update(removed_at=days_ago(400))
    written = AuditEvent.objects.get(action="user.locked", actor_id=actor.pk)

    assert lifecycle.users_purge_removed(days=30) == 1
    assert not User.objects.filter(pk=actor.pk).exists()
    written_after = AuditEvent.objects.get(pk=written.pk)
    assert (written_after.actor_id, written_after.actor_repr) == (actor.pk, actor.username)
    assert audit_verify().ok


def test_purge_clears_references_from_objects_the_user_owned(settings):
    owner = make_user()
    res = make_resource()
    res.owners.add(owner)
    ent = Entitlement.objects.create(resource=res, identifier="e", name="E", owner=owner)
    lifecycle.user_remove(actor=None, source=Source.CONSOLE, user=owner)
    User.objects.filter(pk=owner.pk).update(removed_at=days_ago(60))
    assert DirectoryEvent.objects.filter(kind=DirectoryEventKind.OWNER_CHANGE).count() == 2

    assert lifecycle.users_purge_removed(days=30) == 1

    ent.refresh_from_db()
    assert ent.owner is None and not res.owners.exists()
    # the follow-up events outlive the user, with their name
    assert set(DirectoryEvent.objects.values_list("user_id", "user_repr")) == {(None, owner.get_full_name())}


# ---------------------------------------------------------------------------------------------
# Temporary accounts
# ---------------------------------------------------------------------------------------------


def test_temporary_accounts_past_expiry_are_revoked():
    user = make_user()
    res = make_resource()
    expired = account(res, owner=user, is_temporary=True, expires_at=days_ago(0.01))
    ent = Entitlement.objects.create(resource=res, identifier="t", name="T")
    EntitlementMembership.objects.create(account=expired, entitlement=ent)
    valid = account(make_resource(), owner=user, is_temporary=True, expires_at=days_ago(-1))
    permanent = account(make_resource(), owner=user)

    assert lifecycle.accounts_expire_temporary() == 1

    statuses = dict(Account.objects.values_list("pk", "status"))
    assert statuses[expired.pk] == AccountStatus.REVOKED
    assert statuses[valid.pk] == statuses[permanent.pk] == AccountStatus.ACTIVE
    assert not EntitlementMembership.objects.filter(account=expired).exists()
    entry = ProvisioningEntry.objects.get(account=expired)
    assert entry.event_type == ProvisioningEvent.REVOKE_ACCOUNT
    event = AuditEvent.objects.get(action="account.revoked", object_id=str(expired.pk))
    assert event.source == Source.AUTOMATIC
    assert event.new_values["reason"] == "temporary account expired"
    assert lifecycle.accounts_expire_temporary() == 0


# ---------------------------------------------------------------------------------------------
# Celery tasks
# ---------------------------------------------------------------------------------------------


def test_the_periodic_tasks_run_the_services(settings):
    settings.BLAZON_AUTO_REVOKE_INACTIVE_DAYS = 90
    settings.BLAZON_PURGE_REMOVED_AFTER_DAYS = 30
    inactive = make_user(status=UserStatus.INACTIVE, inactive_since=days_ago(100))
    removed = make_user(status=UserStatus.REMOVED, removed_at=days_ago(40))
    temp = account(make_resource(), owner=make_user(), is_temporary=True, expires_at=days_ago(1))

    assert tasks.auto_revoke_inactive_users.apply().get() == 1
    assert tasks.purge_removed_users.apply().get() == 1
    assert tasks.expire_temporary_accounts.apply().get() == 1

    inactive.refresh_from_db()
    temp.refresh_from_db()
    assert inactive.status == UserStatus.REVOKED
    assert not User.objects.filter(pk=removed.pk).exists()
    assert temp.status == AccountStatus.REVOKED
    for task in (
        tasks.auto_revoke_inactive_users,
        tasks.purge_removed_users,
        tasks.expire_temporary_accounts,
    ):
        assert task.acks_late and task.max_retries is not None


# ---------------------------------------------------------------------------------------------
# Query bound
# ---------------------------------------------------------------------------------------------


def _user_with(n_accounts: int, memberships_per_account: int) -> User:
    user = make_user()
    resources = [make_resource() for _ in range(n_accounts)]
    ents = Entitlement.objects.bulk_create(
        [
            Entitlement(resource=r, identifier=f"e{i}", name=f"E{i}")
            for r in resources
            for i in range(memberships_per_account)
        ]
    )
    accounts = Account.objects.bulk_create(
        [Account(resource=r, owner=user, identifier=f"{user.username}-{r.code}") for r in resources]
    )
    by_res = {a.resource_id: a for a in accounts}
    EntitlementMembership.objects.bulk_create(
        [EntitlementMembership(account=by_res[e.resource_id], entitlement=e) for e in ents]
    )
    return user


EVENT = {
    "inactivate": ProvisioningEvent.INACTIVATE_ACCOUNT,
    "activate": ProvisioningEvent.ACTIVATE_ACCOUNT,
    "revoke": ProvisioningEvent.REVOKE_ACCOUNT,
}


@pytest.mark.parametrize("op", ["inactivate", "activate", "revoke"])
def test_cascade_query_count_does_not_grow_with_accounts(op):
    """One user with 50 accounts and 200 memberships costs the same queries as one with 2."""

    def run(n_accounts: int, per: int) -> tuple[int, int]:
        user = _user_with(n_accounts, per)
        assert EntitlementMembership.objects.filter(account__owner=user).count() == n_accounts * per
        if op == "activate":
            lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=user)
        with CaptureQueriesContext(connection) as ctx:
            getattr(lifecycle, f"user_{op}")(actor=None, source=Source.CONSOLE, user=user)
        changed = ProvisioningEntry.objects.filter(user_id_ref=user.pk, event_type=EVENT[op]).count()
        return len(ctx.captured_queries), changed

    run(1, 1)  # warm-up: the audit chain head row is created on first use
    small, small_entries = run(2, 4)
    big, big_entries = run(50, 4)
    assert (small_entries, big_entries) == (2, 50)  # the cascade did reach every account
    assert big == small, f"{op}: {small} queries for 2 accounts, {big} for 50"
    assert big <= 40


def test_the_life_cycle_guide_says_what_the_purge_does_with_audit_actors():
    """Issue 12, item 24: docs/lifecycle.md said a REMOVED user who acted in the audit log is
    never purged, while the purge deletes them (their events stay, test above)."""
    guide = (django_settings.BASE_DIR / "docs" / "lifecycle.md").read_text()
    purge = guide[guide.index("The purge keeps the audit log") :].split("\n\n")[0]
    not_purged = purge[purge.index("**not** purged") :]
    assert "actor" not in not_purged, not_purged
    assert "**actor** of audit events is purged" in purge

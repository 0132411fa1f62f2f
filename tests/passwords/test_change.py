"""Changing a password: factors, minimum age and interval, audit, notification, atomicity,
expiry, and the directory's user create/update path."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.services.users.create import user_create
from directory.services.users.update import user_update
from passwords.models import PasswordHistory, PasswordState
from passwords.selectors import password_expired, password_must_change
from passwords.services import PasswordChangeReason, password_change
from tests.passwords.conftest import NEW, OLD

pytestmark = pytest.mark.django_db


def change(user, new=NEW, current=OLD, **kw):
    kw.setdefault("authenticated_at", time.time())
    return password_change(
        user=user,
        new_password=new,
        current_password=current,
        actor=user,
        source="workspace",
        reason=PasswordChangeReason.CHANGE,
        **kw,
    )


def refused(exc_type, func, *args, **kwargs):
    with pytest.raises(exc_type) as info:
        func(*args, **kwargs)
    return info.value


def test_a_change_is_audited_without_the_password_and_remembered(carol, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        change(carol)
    carol.refresh_from_db()
    assert carol.check_password(NEW) and carol.password.startswith("argon2$argon2id$")
    event = AuditEvent.objects.filter(action="password.changed", object_id=str(carol.pk)).latest("id")
    assert event.new_values["reason"] == "change" and event.source == "workspace"
    everything = json.dumps(list(AuditEvent.objects.values_list("old_values", "new_values")))
    assert NEW not in everything and OLD not in everything
    assert PasswordHistory.objects.filter(user=carol).count() == 2
    assert PasswordState.objects.get(user=carol).changed_by_user_at is not None
    (notice,) = mail.outbox
    assert notice.to == ["carol@example.com"] and "was changed" in notice.subject and NEW not in notice.body


def test_no_notice_when_the_change_policy_says_so(carol, change_policy, django_capture_on_commit_callbacks):
    change_policy.notify_user = False
    change_policy.save()
    with django_capture_on_commit_callbacks(execute=True):
        change(carol)
    assert mail.outbox == []


def test_a_wrong_current_password_changes_nothing(carol):
    before = carol.password
    exc = refused(ValidationFailed, change, carol, current="not-my-password")
    assert exc.fields == {"current_password": ["Not your current password."]}
    carol.refresh_from_db()
    assert carol.password == before and PasswordHistory.objects.filter(user=carol).count() == 1
    assert not AuditEvent.objects.filter(action="password.changed", actor_id=carol.pk).exists()


def test_a_policy_breaking_password_lists_every_broken_rule_and_changes_nothing(carol):
    exc = refused(ValidationFailed, change, carol, new="carol")
    assert exc.fields["new_password"] == [
        "At least 12 characters.",
        "An upper-case letter.",
        "A digit.",
        "A symbol (such as ! # % or -).",
        "Not your username, first or last name.",
    ]
    carol.refresh_from_db()
    assert carol.check_password(OLD)


def test_reusing_a_recent_password_is_refused(carol):
    exc = refused(ValidationFailed, change, carol, new=OLD)
    assert exc.fields["new_password"] == ["Not one of your last 3 passwords."]


def test_a_recent_login_is_required_when_the_change_policy_asks(carol, change_policy):
    change_policy.recent_login_minutes = 10
    change_policy.save()
    exc = refused(NotAllowed, change, carol, authenticated_at=time.time() - 11 * 60)
    assert exc.code == "reauthenticate" and "10 minutes" in exc.message
    refused(NotAllowed, change, carol, authenticated_at=None)
    change(carol, authenticated_at=time.time() - 60)


def test_minimum_age_stops_a_second_change_by_the_user(carol, policy):
    policy.min_age_hours = 24
    policy.save()
    change(carol)
    exc = refused(Conflict, change, carol, new="Another-Fine-Phrase-9", current=NEW)
    assert exc.code == "min_age" and "24 hours" in exc.message
    carol.refresh_from_db()
    assert carol.check_password(NEW)
    # a day later it is allowed
    PasswordState.objects.filter(user=carol).update(changed_by_user_at=timezone.now() - timedelta(hours=25))
    change(carol, new="Another-Fine-Phrase-9", current=NEW)


def test_minimum_interval_of_the_change_policy(carol, change_policy):
    change_policy.min_interval_minutes = 30
    change_policy.save()
    change(carol)
    exc = refused(Conflict, change, carol, new="Another-Fine-Phrase-9", current=NEW)
    assert exc.code == "min_interval"


def test_expiry_and_must_change(carol, policy):
    assert not password_expired(carol)
    policy.max_age_days = 30
    policy.save()
    assert not password_expired(carol)
    PasswordState.objects.filter(user=carol).update(changed_at=timezone.now() - timedelta(days=31))
    assert password_expired(carol) and password_must_change(carol)


def test_the_directory_create_and_update_path_uses_the_policy(
    policy, change_policy, django_capture_on_commit_callbacks
):
    exc = refused(
        ValidationFailed,
        user_create,
        actor=None,
        source="api",
        data={"first_name": "Ana", "last_name": "Lima", "password": "Password123!"},
    )
    assert exc.fields["password"] == [
        "Not a common or forbidden word (it contains “password”).",
    ]
    with django_capture_on_commit_callbacks(execute=True):
        user = user_create(
            actor=None,
            source="api",
            data={"first_name": "Ana", "last_name": "Lima", "email": "ana@example.com", "password": OLD},
        )
    assert user.check_password(OLD) and PasswordState.objects.filter(user=user).exists()
    assert mail.outbox == []  # a new user is not told their password "changed"
    exc = refused(ValidationFailed, user_update, actor=None, source="api", user=user, data={"password": OLD})
    assert exc.fields["password"] == ["Not one of your last 3 passwords."]
    with django_capture_on_commit_callbacks(execute=True):
        user_update(actor=None, source="api", user=user, data={"password": NEW})
    assert [m.to for m in mail.outbox] == [["ana@example.com"]]
    user.refresh_from_db()
    assert user.check_password(NEW) and PasswordHistory.objects.filter(user=user).count() == 2

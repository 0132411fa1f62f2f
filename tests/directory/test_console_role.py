"""Console roles (issue #2 §5: internal administrative roles): only an administrator, or the
system, gives or takes them; the last administrator who can log in keeps the role; every
change is audited and a refused one changes nothing."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import ConsoleRole, Source, User, UserStatus
from directory.services.users.console_role import console_role_set
from tests.api.factories import UserFactory

pytestmark = pytest.mark.django_db
ADMIN, HELPDESK, AUDITOR = ConsoleRole.ADMINISTRATOR, ConsoleRole.HELPDESK, ConsoleRole.AUDITOR


@pytest.fixture
def boss():
    return UserFactory(username="boss", console_role=ADMIN)


def set_role(actor, user, role):
    return console_role_set(actor=actor, source=Source.CONSOLE, user=user, role=role)


def role_in_db(user) -> str:
    return User.objects.get(pk=user.pk).console_role


def test_an_administrator_gives_and_takes_a_role(boss):
    joe = UserFactory(username="joe")
    assert not can(joe, "manage_users")
    joe = set_role(boss, joe, HELPDESK)
    assert joe.console_role == HELPDESK and can(joe, "manage_users") and not can(joe, "manage_config")
    set_role(boss, joe, "")
    assert role_in_db(joe) == ""
    events = AuditEvent.objects.filter(action="user.console_role_changed", subject_user_id=joe.pk).order_by(
        "seq"
    )
    assert [(e.old_values, e.new_values) for e in events] == [
        ({"console_role": ""}, {"console_role": "HELPDESK"}),
        ({"console_role": "HELPDESK"}, {"console_role": ""}),
    ]
    assert all(e.actor_id == boss.pk and e.source == "console" for e in events)


def test_setting_the_same_role_again_changes_and_audits_nothing(boss):
    joe = UserFactory(username="joe", console_role=AUDITOR)
    set_role(boss, joe, AUDITOR)
    assert not AuditEvent.objects.filter(action="user.console_role_changed").exists()


def test_the_system_may_set_roles():
    first = UserFactory(username="first")
    set_role(None, first, ADMIN)
    assert role_in_db(first) == ADMIN
    assert AuditEvent.objects.get(action="user.console_role_changed").actor_id is None


@pytest.mark.parametrize("role", [HELPDESK, AUDITOR, ""])
def test_only_administrators_may_change_roles(role):
    actor = UserFactory(username="actor", console_role=role)
    joe = UserFactory(username="joe")
    with pytest.raises(NotAllowed, match="Only an administrator"):
        set_role(actor, joe, AUDITOR)
    with pytest.raises(NotAllowed):
        set_role(actor, actor, ADMIN)  # nobody promotes themselves
    assert role_in_db(joe) == "" and role_in_db(actor) == role
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("state", [{"status": UserStatus.INACTIVE}, {"login_locked": True}])
def test_an_administrator_who_cannot_log_in_may_not_change_roles(state):
    actor = UserFactory(username="actor", console_role=ADMIN, **state)
    with pytest.raises(NotAllowed):
        set_role(actor, UserFactory(username="joe"), AUDITOR)


def test_unknown_role_is_refused(boss):
    joe = UserFactory(username="joe")
    with pytest.raises(ValidationFailed, match="Unknown console role 'ROOT'") as exc:
        set_role(boss, joe, "ROOT")
    assert "role" in exc.value.fields
    assert role_in_db(joe) == ""


def test_the_last_administrator_cannot_give_up_the_role(boss):
    with pytest.raises(Conflict, match="You are the last administrator") as exc:
        set_role(boss, boss, HELPDESK)
    assert exc.value.code == "last_administrator"
    assert role_in_db(boss) == ADMIN
    assert not AuditEvent.objects.exists()


def test_an_administrator_who_cannot_log_in_does_not_count(boss):
    UserFactory(username="away", console_role=ADMIN, status=UserStatus.INACTIVE)
    UserFactory(username="locked", console_role=ADMIN, login_locked=True)
    with pytest.raises(Conflict, match="last administrator"):
        set_role(boss, boss, "")
    assert role_in_db(boss) == ADMIN


def test_with_another_administrator_one_may_step_down(boss):
    UserFactory(username="deputy", console_role=ADMIN)
    set_role(boss, boss, AUDITOR)
    assert role_in_db(boss) == AUDITOR


def test_a_superuser_counts_as_an_administrator(boss):
    UserFactory(username="root", is_superuser=True)
    set_role(boss, boss, "")
    assert role_in_db(boss) == ""


def test_the_system_cannot_remove_the_last_administrator_either(boss):
    with pytest.raises(Conflict, match="boss is the last administrator"):
        set_role(None, boss, "")
    assert role_in_db(boss) == ADMIN


def test_a_removed_identity_gets_no_role(boss):
    gone = UserFactory(username="gone", status=UserStatus.REMOVED)
    with pytest.raises(ValidationFailed, match="REMOVED"):
        set_role(boss, gone, AUDITOR)
    assert role_in_db(gone) == ""

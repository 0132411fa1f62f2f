"""Setting a password through the directory's user update (the service every channel uses):
the help desk may set an end user's, but a console user's — an administrator's above all —
only an administrator may, or a help-desk operator could take over a more privileged role."""

from __future__ import annotations

import pytest

from blazon.errors import NotAllowed
from directory.models import ConsoleRole
from directory.services.users.update import user_update
from tests.api.factories import UserFactory

pytestmark = pytest.mark.django_db

NEW = "Juniper-Harbour-Signal-58"


def set_password(actor, user):
    return user_update(actor=actor, source="console", user=user, data={"password": NEW})


@pytest.mark.parametrize("target_role", [ConsoleRole.ADMINISTRATOR, ConsoleRole.HELPDESK])
def test_the_help_desk_cannot_set_a_console_users_password(target_role):
    helpdesk = UserFactory(username="hd", console_role=ConsoleRole.HELPDESK)
    target = UserFactory(username="target", console_role=target_role)
    before = target.password
    with pytest.raises(NotAllowed) as refused:
        set_password(helpdesk, target)
    assert refused.value.code == "console_user" and "only an administrator" in refused.value.message
    target.refresh_from_db()
    assert target.password == before and not target.check_password(NEW)


def test_the_help_desk_cannot_set_a_superusers_password():
    helpdesk = UserFactory(username="hd", console_role=ConsoleRole.HELPDESK)
    root = UserFactory(username="root", is_superuser=True)
    with pytest.raises(NotAllowed):
        set_password(helpdesk, root)
    root.refresh_from_db()
    assert not root.check_password(NEW)


def test_the_help_desk_sets_an_end_users_password():
    helpdesk = UserFactory(username="hd", console_role=ConsoleRole.HELPDESK)
    employee = UserFactory(username="emma")
    set_password(helpdesk, employee)
    employee.refresh_from_db()
    assert employee.check_password(NEW)


def test_an_administrator_sets_another_administrators_password():
    admin = UserFactory(username="root-1", console_role=ConsoleRole.ADMINISTRATOR)
    other = UserFactory(username="root-2", console_role=ConsoleRole.ADMINISTRATOR)
    set_password(admin, other)
    other.refresh_from_db()
    assert other.check_password(NEW)

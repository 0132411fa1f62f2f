"""The inactivation's follow-up events (seed 002, "Inativação") and their resolution (issue 12
item 5): owner change for what the user owns or is responsible for, administrator change (or
continuity) for application accounts, remove-or-keep for shared accounts; each resolvable with a
new owner/responsible, continuity, or removal, audited."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.models import (
    Account,
    AccountType,
    ConsoleRole,
    DirectoryEvent,
    DirectoryEventKind,
    DirectoryEventStatus,
    Resource,
    Role,
    SharedAccountMember,
    Source,
    UserStatus,
)
from directory.services import lifecycle
from tests.directory.test_lifecycle import account, make_resource, make_user

pytestmark = pytest.mark.django_db
K = DirectoryEventKind


@pytest.fixture
def leaver():
    """A user who owns a resource and a role, administers an application account, is responsible
    for a shared account and is a member of another one."""
    user = make_user(username="leaver")
    res = make_resource("erp")
    res.owners.add(user)
    role = Role.objects.create(code="fin", name="Finance", owner=user)
    app_acc = account(res, account_type=AccountType.APPLICATION, responsible=user, identifier="svc-erp")
    shared_resp = account(res, account_type=AccountType.SHARED, responsible=user, identifier="ops")
    shared = account(res, account_type=AccountType.SHARED, identifier="social")
    SharedAccountMember.objects.create(account=shared, user=user)
    admin = make_user(username="boss", console_role=ConsoleRole.ADMINISTRATOR)
    helpdesk = make_user(username="desk", console_role=ConsoleRole.HELPDESK)
    heir = make_user(username="heir")
    return {
        "user": user,
        "res": res,
        "role": role,
        "app_acc": app_acc,
        "shared_resp": shared_resp,
        "shared": shared,
        "admin": admin,
        "helpdesk": helpdesk,
        "heir": heir,
    }


def open_events(user, kind=None):
    qs = DirectoryEvent.objects.filter(user=user, status=DirectoryEventStatus.OPEN)
    return qs.filter(kind=kind) if kind else qs


def event_for(user, obj, kind):
    return open_events(user, kind).get(object_type=obj._meta.label, object_id=str(obj.pk))


def test_inactivation_opens_the_follow_up_events_and_keeps_the_shared_membership(leaver):
    d = leaver
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=d["user"])

    owner = set(open_events(d["user"], K.OWNER_CHANGE).values_list("object_type", "object_id"))
    assert owner == {
        ("directory.Resource", str(d["res"].pk)),
        ("directory.Role", str(d["role"].pk)),
        ("directory.Account", str(d["shared_resp"].pk)),
    }
    assert event_for(d["user"], d["app_acc"], K.ACCOUNT_ADMIN_CHANGE)
    review = event_for(d["user"], d["shared"], K.SHARED_MEMBER_REVIEW)
    assert "remove them" in review.detail and "continuity" in review.detail
    # nothing is taken yet: the member stays until someone decides
    assert SharedAccountMember.objects.filter(account=d["shared"], user=d["user"]).exists()
    inactivated = AuditEvent.objects.get(action="user.inactivated")
    assert inactivated.new_values["owner_change_events"] == 4
    assert inactivated.new_values["shared_member_events"] == 1
    assert audit_verify().ok


def test_revocation_after_inactivation_does_not_duplicate_and_answers_the_shared_question(leaver):
    d = leaver
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=d["user"])
    lifecycle.user_revoke(actor=None, source=Source.CONSOLE, user=d["user"])

    assert open_events(d["user"], K.OWNER_CHANGE).count() == 3
    assert open_events(d["user"], K.ACCOUNT_ADMIN_CHANGE).count() == 1
    assert not open_events(d["user"], K.SHARED_MEMBER_REVIEW).exists()  # removed by the revocation
    assert not SharedAccountMember.objects.filter(user=d["user"]).exists()
    assert open_events(d["user"], K.SHARED_MEMBER_REMOVED).count() == 1


def test_activation_cancels_the_open_questions(leaver):
    d = leaver
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=d["user"])
    lifecycle.user_activate(actor=None, source=Source.CONSOLE, user=d["user"])
    assert not open_events(d["user"]).exists()
    assert SharedAccountMember.objects.filter(account=d["shared"], user=d["user"]).exists()


def test_reassign_gives_the_object_a_new_owner_and_audits_both(leaver):
    d = leaver
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=d["user"])
    event = event_for(d["user"], d["res"], K.OWNER_CHANGE)

    lifecycle.directory_event_resolve(
        actor=d["admin"],
        source=Source.CONSOLE,
        event=event,
        decision="REASSIGN",
        new_user=d["heir"],
        note="n",
    )

    event.refresh_from_db()
    assert event.status == DirectoryEventStatus.RESOLVED and event.decision == "REASSIGN"
    assert event.new_user == d["heir"] and event.resolved_by == d["admin"] and event.closed_at
    assert list(Resource.objects.get(pk=d["res"].pk).owners.all()) == [d["heir"]]
    resolved = AuditEvent.objects.get(action="directory_event.resolved")
    assert resolved.actor == d["admin"] and resolved.new_values["new_user"] == "heir"
    changed = AuditEvent.objects.get(action="ownership.changed")
    assert (changed.object_type, changed.object_id) == ("directory.Resource", str(d["res"].pk))
    assert changed.old_values == {"owners": event.user_repr} and changed.new_values["owners"] == "heir"

    app_event = event_for(d["user"], d["app_acc"], K.ACCOUNT_ADMIN_CHANGE)
    lifecycle.directory_event_resolve(
        actor=d["helpdesk"], source=Source.API, event=app_event, decision="REASSIGN", new_user=d["heir"]
    )
    assert Account.objects.get(pk=d["app_acc"].pk).responsible == d["heir"]
    assert audit_verify().ok


def test_continuity_keeps_the_object_as_it_is(leaver):
    d = leaver
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=d["user"])
    event = event_for(d["user"], d["role"], K.OWNER_CHANGE)
    lifecycle.directory_event_resolve(
        actor=d["admin"], source=Source.CONSOLE, event=event, decision="CONTINUITY"
    )
    event.refresh_from_db()
    assert event.status == DirectoryEventStatus.RESOLVED and event.decision == "CONTINUITY"
    assert Role.objects.get(pk=d["role"].pk).owner == d["user"]


def test_removing_an_inactivated_member_opens_the_rotation_alert(leaver):
    d = leaver
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=d["user"])
    review = event_for(d["user"], d["shared"], K.SHARED_MEMBER_REVIEW)
    lifecycle.directory_event_resolve(
        actor=d["helpdesk"], source=Source.CONSOLE, event=review, decision="REMOVE"
    )
    assert not SharedAccountMember.objects.filter(account=d["shared"], user=d["user"]).exists()
    alert = event_for(d["user"], d["shared"], K.SHARED_MEMBER_REMOVED)
    lifecycle.directory_event_resolve(
        actor=d["helpdesk"], source=Source.CONSOLE, event=alert, decision="DONE"
    )
    alert.refresh_from_db()
    assert alert.status == DirectoryEventStatus.RESOLVED


def test_refusals_change_nothing(leaver):
    d = leaver
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=d["user"])
    event = event_for(d["user"], d["res"], K.OWNER_CHANGE)
    before = AuditEvent.objects.count()
    # the help desk does not change the ownership of configuration objects
    with pytest.raises(NotAllowed):
        lifecycle.directory_event_resolve(
            actor=d["helpdesk"], source=Source.CONSOLE, event=event, decision="REASSIGN", new_user=d["heir"]
        )
    with pytest.raises(ValidationFailed, match="REASSIGN or CONTINUITY"):
        lifecycle.directory_event_resolve(
            actor=d["admin"], source=Source.CONSOLE, event=event, decision="REMOVE"
        )
    with pytest.raises(ValidationFailed, match="new owner"):
        lifecycle.directory_event_resolve(
            actor=d["admin"], source=Source.CONSOLE, event=event, decision="REASSIGN"
        )
    d["heir"].status = UserStatus.INACTIVE
    d["heir"].save()
    with pytest.raises(ValidationFailed, match="another ACTIVE user"):
        lifecycle.directory_event_resolve(
            actor=d["admin"], source=Source.CONSOLE, event=event, decision="REASSIGN", new_user=d["heir"]
        )
    with pytest.raises(ValidationFailed, match="another ACTIVE user"):  # not back to the leaver
        lifecycle.directory_event_resolve(
            actor=d["admin"], source=Source.CONSOLE, event=event, decision="REASSIGN", new_user=d["user"]
        )
    assert AuditEvent.objects.count() == before
    event.refresh_from_db()
    assert event.status == DirectoryEventStatus.OPEN
    assert list(Resource.objects.get(pk=d["res"].pk).owners.all()) == [d["user"]]
    lifecycle.directory_event_resolve(
        actor=d["admin"], source=Source.CONSOLE, event=event, decision="CONTINUITY"
    )
    with pytest.raises(Conflict, match="already resolved"):
        lifecycle.directory_event_resolve(
            actor=d["admin"], source=Source.CONSOLE, event=event, decision="CONTINUITY"
        )

"""The members of a shared account on its console page: listed for every reader, added (search,
then add) and removed (with a confirmation and a password-rotation alert) by the help desk and
administrators; auditors only read."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import (
    AccountType,
    DirectoryEvent,
    DirectoryEventKind,
    SharedAccountMember,
    UserStatus,
)
from tests.api.factories import AccountFactory, ResourceFactory, UserFactory
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(world):
    slack = ResourceFactory(code="slack", name="Slack")
    account = AccountFactory(
        resource=slack, owner=None, identifier="sales-events", account_type=AccountType.SHARED
    )
    SharedAccountMember.objects.create(account=account, user=world["alice"])
    return account


def page(client, account) -> str:
    response = client.get(reverse("console:account_detail", args=[account.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_members_are_listed_with_add_and_remove_for_the_help_desk(helpdesk, shared):
    body = page(helpdesk, shared)
    assert 'id="shared-members"' in body and "alice" in body
    assert reverse("console:shared_member_add", args=[shared.pk]) in body
    member = SharedAccountMember.objects.get(account=shared)
    assert reverse("console:shared_member_remove", args=[shared.pk, member.pk]) in body
    assert "data-confirm=" in body  # the browser asks before removing


def test_auditor_sees_members_but_no_buttons(auditor, shared):
    body = page(auditor, shared)
    assert "alice" in body
    assert reverse("console:shared_member_add", args=[shared.pk]) not in body
    assert "/remove/" not in body


def test_regular_accounts_have_no_members_panel(admin, world):
    assert 'id="shared-members"' not in page(admin, world["bob_acct"])


def test_search_lists_active_non_members_only(helpdesk, shared, world):
    UserFactory(username="bobby-gone", first_name="Bobby", status=UserStatus.REVOKED)
    response = helpdesk.get(reverse("console:shared_member_search", args=[shared.pk]), {"user": "b"})
    assert "<tr>" not in response.content.decode()  # one letter is not a search yet
    response = helpdesk.get(reverse("console:shared_member_search", args=[shared.pk]), {"user": "bo"})
    body = response.content.decode()
    assert "Add bob" in body and "bobby-gone" not in body
    response = helpdesk.get(reverse("console:shared_member_search", args=[shared.pk]), {"user": "alic"})
    assert "Add alice" not in response.content.decode()  # already a member


def test_add_a_member(helpdesk, shared, world):
    response = helpdesk.post(
        reverse("console:shared_member_add", args=[shared.pk]), {"user": "bob"}, follow=True
    )
    assert SharedAccountMember.objects.filter(account=shared, user=world["bob"]).exists()
    assert "bob can now use the shared account sales-events" in response.content.decode()


def test_adding_an_inactive_user_shows_the_services_message(helpdesk, shared):
    UserFactory(username="carol", status=UserStatus.INACTIVE)
    response = helpdesk.post(
        reverse("console:shared_member_add", args=[shared.pk]), {"user": "carol"}, follow=True
    )
    assert "carol is INACTIVE: only ACTIVE users can be members" in response.content.decode()
    assert SharedAccountMember.objects.filter(account=shared).count() == 1


def test_adding_twice_or_an_unknown_user_changes_nothing(helpdesk, shared):
    url = reverse("console:shared_member_add", args=[shared.pk])
    body = helpdesk.post(url, {"user": "alice"}, follow=True).content.decode()
    assert "alice is already a member" in body
    body = helpdesk.post(url, {"user": "nobody"}, follow=True).content.decode()
    assert "No user with username" in body
    assert SharedAccountMember.objects.filter(account=shared).count() == 1


def test_members_cannot_be_added_to_a_regular_account(admin, world):
    response = admin.post(
        reverse("console:shared_member_add", args=[world["bob_acct"].pk]), {"user": "alice"}
    )
    assert response.status_code == 404
    assert not SharedAccountMember.objects.exists()


def test_remove_a_member_opens_a_rotation_alert(helpdesk, shared, world):
    member = SharedAccountMember.objects.get(account=shared)
    response = helpdesk.post(
        reverse("console:shared_member_remove", args=[shared.pk, member.pk]), follow=True
    )
    assert not SharedAccountMember.objects.filter(account=shared).exists()
    assert "rotate it" in response.content.decode()
    assert [m.level_tag for m in response.context["messages"]] == ["warning"]  # a follow-up is due
    alert = DirectoryEvent.objects.get(kind=DirectoryEventKind.SHARED_MEMBER_REMOVED)
    assert alert.user == world["alice"] and alert.object_id == str(shared.pk)
    # the alert shows on the former member's page
    events = helpdesk.get(reverse("console:user_detail", args=[world["alice"].pk]), {"tab": "events"})
    assert "rotate its password" in events.content.decode()


def test_auditor_and_plain_users_cannot_change_members(auditor, plain, shared, world):
    member = SharedAccountMember.objects.get(account=shared)
    for client in (auditor, plain):
        assert (
            client.post(reverse("console:shared_member_add", args=[shared.pk]), {"user": "bob"}).status_code
            == 403
        )
        remove = reverse("console:shared_member_remove", args=[shared.pk, member.pk])
        assert client.post(remove).status_code == 403
        search = reverse("console:shared_member_search", args=[shared.pk])
        assert client.get(search, {"user": "bo"}).status_code == 403
    assert list(SharedAccountMember.objects.values_list("user__username", flat=True)) == ["alice"]


def test_member_changes_need_post_and_csrf(admin_user, shared):
    client = logged_in(admin_user, enforce_csrf_checks=True)
    member = SharedAccountMember.objects.get(account=shared)
    remove = reverse("console:shared_member_remove", args=[shared.pk, member.pk])
    assert client.get(remove).status_code == 405
    assert client.post(remove).status_code == 403
    assert (
        client.post(reverse("console:shared_member_add", args=[shared.pk]), {"user": "bob"}).status_code
        == 403
    )
    assert list(SharedAccountMember.objects.values_list("user__username", flat=True)) == ["alice"]
    # the page's own forms carry the token
    assert page(client, shared).count('name="csrfmiddlewaretoken"') >= 3  # logout, add, remove


def test_member_names_are_escaped(admin, shared):
    evil = UserFactory(username="evil", first_name="<script>alert(1)</script>")
    SharedAccountMember.objects.create(account=shared, user=evil)
    assert "<script>alert(1)</script>" not in page(admin, shared)
    search = admin.get(reverse("console:shared_member_search", args=[shared.pk]), {"user": "<script>"})
    assert "<script>" not in search.content.decode()

"""Changing a role from the console: preview (nothing changes), confirm (the fan-out runs),
follow the progress until done, and the members have the new access."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import EntitlementMembership, RoleChange, RoleChangeStatus
from directory.services import access
from tests.api.factories import UserFactory

pytestmark = pytest.mark.django_db


def preview(client, role, action, item):
    return client.get(
        reverse("console:role_change_preview", args=[role.pk]), {"action": action, "item": item}
    )


def submit(client, role, action, item, capture, **extra):
    with capture(execute=True):
        return client.post(
            reverse("console:role_change_submit", args=[role.pk]), {"action": action, "item": item, **extra}
        )


def test_add_entitlement_preview_then_confirm_gives_it_to_every_member(
    admin, world, django_capture_on_commit_callbacks
):
    role, admins, alice = world["role"], world["admins"], world["alice"]
    carol = UserFactory(username="carol")
    access.role_grant(actor=None, source="console", user=carol, role=role)  # gets a GitHub account
    item = f"entitlement:{admins.pk}"

    response = preview(admin, role, "ADD", item)
    assert response.status_code == 200
    assert response.context["preview"]["members"] == 2
    assert response.context["preview"]["memberships_to_create"] == 2
    body = response.content.decode()
    assert "2</strong> members of the role are affected" in body
    assert "Confirm and apply to 2 members" in body
    # the preview changed nothing
    assert (
        not EntitlementMembership.objects.filter(entitlement=admins)
        .exclude(account__owner=world["bob"])
        .exists()
    )
    assert not RoleChange.objects.exists()

    response = submit(admin, role, "ADD", item, django_capture_on_commit_callbacks)
    change = RoleChange.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("console:role_change_detail", args=[role.pk, change.pk])
    assert change.status == RoleChangeStatus.DONE
    holders = set(
        EntitlementMembership.objects.filter(entitlement=admins).values_list(
            "account__owner__username", flat=True
        )
    )
    assert holders == {"alice", "carol", "bob"}

    page = admin.get(response.url)
    assert "Done" in page.content.decode()
    assert "hx-get" not in page.content.decode()  # finished: no more polling
    member_page = admin.get(reverse("console:user_detail", args=[alice.pk]), {"tab": "entitlements"})
    assert "GitHub admins" in member_page.content.decode()


def test_progress_fragment_polls_until_done(admin, world):
    role = world["role"]
    change = RoleChange.objects.create(role=role, action="ADD", entitlement=world["admins"])
    page = admin.get(reverse("console:role_change_detail", args=[role.pk, change.pk]))
    assert 'hx-trigger="every 1s"' in page.content.decode()
    fragment = admin.get(reverse("console:role_change_progress", args=[role.pk, change.pk]))
    assert fragment.status_code == 200
    assert "Pending" in fragment.content.decode()
    RoleChange.objects.filter(pk=change.pk).update(
        status=RoleChangeStatus.DONE, result={"steps": ["entitlement x added"]}
    )
    fragment = admin.get(reverse("console:role_change_progress", args=[role.pk, change.pk]))
    assert fragment.status_code == 286  # tells htmx to stop polling
    assert "entitlement x added" in fragment.content.decode()


def test_remove_preview_shows_what_is_revoked_and_what_is_kept(
    admin, world, django_capture_on_commit_callbacks
):
    role, readers, alice = world["role"], world["readers"], world["alice"]
    response = preview(admin, role, "REMOVE", f"entitlement:{readers.pk}")
    assert response.status_code == 200
    assert response.context["preview"]["to_revoke"] == 1
    assert "will be revoked in the applications" in response.content.decode()
    submit(admin, role, "REMOVE", f"entitlement:{readers.pk}", django_capture_on_commit_callbacks)
    assert not EntitlementMembership.objects.filter(entitlement=readers, account__owner=alice).exists()
    assert not role.role_entitlements.filter(entitlement=readers).exists()


def test_adding_an_item_already_in_the_role_is_refused_with_a_message(
    admin, world, django_capture_on_commit_callbacks
):
    role = world["role"]
    response = submit(
        admin, role, "ADD", f"entitlement:{world['readers'].pk}", django_capture_on_commit_callbacks
    )
    assert response.status_code == 302 and response.url == f"/console/roles/{role.pk}/"
    page = admin.get(response.url)
    assert "is already in role Developers" in page.content.decode()
    assert not RoleChange.objects.exists()


def test_bad_item_or_action_is_404_and_changes_nothing(admin, world):
    role = world["role"]
    assert preview(admin, role, "ADD", "entitlement:999999").status_code == 404
    assert preview(admin, role, "ADD", "user:1").status_code == 404
    assert preview(admin, role, "EXPLODE", f"entitlement:{world['admins'].pk}").status_code == 404
    assert preview(admin, role, "ADD", "").status_code == 404
    assert (
        admin.post(reverse("console:role_change_submit", args=[role.pk]), {"action": "ADD"}).status_code
        == 404
    )
    assert not RoleChange.objects.exists()


def test_preview_and_submit_need_the_right_methods(admin, world):
    role = world["role"]
    assert admin.get(reverse("console:role_change_submit", args=[role.pk])).status_code == 405

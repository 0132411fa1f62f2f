"""The peer share of a campaign's items is counted once, set-based, when the campaign starts,
and is the same figure the reviewer's page used to compute per page."""

from __future__ import annotations

from certification.models import CertificationItem, ObjectKind
from certification.selectors import _peers, item_context
from certification.services.campaigns import campaign_start
from directory.services import access
from tests.api.factories import UserFactory
from tests.certification.conftest import give


def test_generated_items_carry_the_peer_share_the_page_would_count(world):
    w = world
    give(w["ana"], w["pay"])
    give(w["bob"], w["view"])
    give(w["eve"], w["view"])  # no job title nor department
    access.role_grant(actor=None, source="console", user=w["bob"], role=w["role"])
    peers = [UserFactory(username=f"peer{n}", job_title="Clerk", department="Finance") for n in range(4)]
    for peer in peers[:3]:
        give(peer, w["view"])
    access.role_grant(actor=None, source="console", user=peers[0], role=w["role"])
    UserFactory(username="gone", job_title="Clerk", department="Finance", status="INACTIVE")
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])

    items = list(
        CertificationItem.objects.filter(
            campaign=campaign, beneficiary__in=[w["ana"], w["bob"]]
        ).select_related("beneficiary")
    )
    assert {i.kind for i in items} == {ObjectKind.ACCOUNT, ObjectKind.ENTITLEMENT, ObjectKind.ROLE}
    stored = {i.pk: (i.peers, i.peers_holding) for i in items}
    live = _peers(items)
    assert stored == live
    bob_reports = next(i for i in items if i.beneficiary == w["bob"] and i.entitlement == w["view"])
    # bob's peers: ana and the four peers (the inactive one does not count); three of them hold Reports
    assert stored[bob_reports.pk] == (5, 3)
    bob_role = next(i for i in items if i.kind == ObjectKind.ROLE)
    assert stored[bob_role.pk] == (5, 1)
    # an item of someone without job title or department has no peers
    eve_item = CertificationItem.objects.get(
        campaign=campaign, beneficiary=w["eve"], kind=ObjectKind.ENTITLEMENT
    )
    assert (eve_item.peers, eve_item.peers_holding) == (0, 0)

    # the page shows the figures of the campaign's start: a peer losing Reports later changes nothing
    access.membership_revoke(
        actor=None,
        source="console",
        membership=peers[0].accounts.get().memberships.get(entitlement=w["view"]),
    )
    context = item_context(items)
    assert (context[bob_reports.pk].peers, context[bob_reports.pk].peers_holding) == (5, 3)
    assert context[bob_reports.pk].reason == "3 of 5 peers (same job title and department) hold it."

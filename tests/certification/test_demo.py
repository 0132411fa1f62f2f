"""The demo company has a running certification campaign with a few decisions made, so the
reviewer page and the reports have something to show."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from certification.models import CampaignStatus, CertificationCampaign, CertificationItem, Decision

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_running_campaign_with_decisions(postgres):
    call_command("load_demo", users=40, seed=7, stdout=StringIO(), stderr=StringIO())
    campaign = CertificationCampaign.objects.get(policy__code="critical-quarterly")
    assert campaign.status == CampaignStatus.RUNNING and campaign.item_count > 3
    items = CertificationItem.objects.filter(campaign=campaign)
    assert items.filter(decision=Decision.KEEP).count() == 2
    revoked = items.get(decision=Decision.REVOKE)
    assert revoked.request is not None and revoked.request.source == "certification"
    assert not items.exclude(criticality__in=["HIGH", "CRITICAL"]).exists()
    reviewer = revoked.reviewer
    client = Client()
    client.force_login(reviewer)
    page = client.get("/workspace/certification/?decision=ALL")
    assert page.status_code == 200 and "Moved to another team." not in page.content.decode()
    assert revoked.access_label in page.content.decode()

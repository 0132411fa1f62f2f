"""The demo's reconciliation: an HR export whose next run brings three joiners, a mover and a
leaver, and a Salesforce accounts profile that left orphan, rogue and lost accounts to resolve."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from reconciliation.models import CaseStatus, ReconciliationCase, ReconciliationProfile, RunStatus
from reconciliation.services.runs import run_and_execute


@pytest.mark.django_db(transaction=False)
def test_demo_profiles(postgres, files):
    call_command("load_demo", users=30, seed=3, stdout=StringIO(), stderr=StringIO())
    hr = ReconciliationProfile.objects.get(code="hr-export")
    baseline = hr.runs.get()
    assert baseline.status == RunStatus.SUCCEEDED and set(baseline.situations) == {"FOUND"}
    dry = run_and_execute(actor=None, source="console", profile=hr, dry_run=True)
    assert dry.situations["NOT_FOUND"] == 3 and dry.situations["MISSING"] == 1
    assert dry.actions["CREATE"] == 3 and dry.actions["UPDATE"] == 1 and dry.actions["INACTIVATE"] == 1
    cases = ReconciliationCase.objects.filter(profile__code="salesforce-accounts", status=CaseStatus.OPEN)
    assert sorted(c.situation for c in cases) == [
        "ACCOUNT_FOUND_OWNER_NOT_FOUND",  # integration.user, an orphan
        "ACCOUNT_OWNER_NOT_FOUND",  # partner.acme, rogue
        "ACCOUNT_OWNER_NOT_FOUND",  # temp.sales, rogue
        "MISSING",  # an account Salesforce no longer has
    ]
    assert all(c.task_id for c in cases)

"""Campaigns: who is eligible, starting one (from a policy or a filter), closing one at its end
or early, cancelling one, and the periodic run of the policies.

Eligibility is the seed's ("Quais objetos podem ser certificados?"): the access is certifiable
(its resource, entitlement or role), ACTIVE (the account; the entitlement member's account; the
role member), managed manually (role- and assignment-policy-managed access is certified through
the role) and not already in a certification in progress (an *active* item: partial unique
indexes hold it). It is computed set-based: one query per kind of access selects the eligible
rows with their beneficiary, criticality and reviewer already resolved, and the items are
written from it in batches (``bulk_create``), whatever the number; the fallback reviewer is then
set with one UPDATE. Tasks: one per reviewer per campaign (not one per item: a 500,000-item
campaign with 2,000 reviewers is 2,000 task rows), opened with ``tasks_open_bulk``."""

from __future__ import annotations

from certification.services.campaigns.close import (
    BATCH,
    CloseResult,
    _open_tasks,
    campaign_cancel,
    campaign_finish,
)
from certification.services.campaigns.run import RunResult, certification_run
from certification.services.campaigns.selection import (
    _COLUMNS,
    SCOPE_KEYS,
    eligible_accounts,
    eligible_count,
    eligible_memberships,
    eligible_role_memberships,
    policy_scope,
    scope_clean,
)
from certification.services.campaigns.start import StartResult, _items_write, campaign_start

__all__ = [
    "BATCH",
    "CloseResult",
    "RunResult",
    "SCOPE_KEYS",
    "StartResult",
    "_COLUMNS",
    "_items_write",
    "_open_tasks",
    "campaign_cancel",
    "campaign_finish",
    "campaign_start",
    "certification_run",
    "eligible_accounts",
    "eligible_count",
    "eligible_memberships",
    "eligible_role_memberships",
    "policy_scope",
    "scope_clean",
]

"""The peer share of a campaign's items, counted once when the campaign is generated.

A reviewer's page shows, for each item, how many of the beneficiary's peers (the other ACTIVE
users with the same job title and department) hold the same access. Counting that per page
meant grouping every membership of the page's accesses held by people of the page's job titles
and departments (half a second a page with 100,000 users); here it is one ``UPDATE … FROM``
per kind of access over the whole campaign: the peer groups and the holders per group are
counted once (``GROUP BY``), then joined to the items. The figures are those of the campaign's
start, like the items themselves.
"""

from __future__ import annotations

from django.db import connection

from certification.models import CertificationCampaign, CertificationItem, ObjectKind
from directory.models import Account, EntitlementMembership, RoleMembership, User, UserStatus


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "item": quote(CertificationItem._meta.db_table),
        "user": quote(User._meta.db_table),
        "account": quote(Account._meta.db_table),
        "membership": quote(EntitlementMembership._meta.db_table),
        "role_membership": quote(RoleMembership._meta.db_table),
    }


#: Per kind: the item's column naming the access, and the holders of each access per peer group
#: (``target``, job title, department, n) among the accesses of the campaign's items of that kind.
_HOLDERS = {
    ObjectKind.ENTITLEMENT: (
        "entitlement_id",
        "SELECT m.entitlement_id AS target, u.job_title, u.department, COUNT(DISTINCT u.id) AS n "
        "FROM {membership} m JOIN {account} a ON a.id = m.account_id JOIN {user} u ON u.id = a.owner_id "
        "WHERE u.status = %(active)s AND m.entitlement_id IN "
        "(SELECT entitlement_id FROM {item} WHERE campaign_id = %(campaign)s AND kind = %(kind)s) "
        "GROUP BY m.entitlement_id, u.job_title, u.department",
    ),
    ObjectKind.ACCOUNT: (
        "resource_id",
        "SELECT a.resource_id AS target, u.job_title, u.department, COUNT(DISTINCT u.id) AS n "
        "FROM {account} a JOIN {user} u ON u.id = a.owner_id "
        "WHERE u.status = %(active)s AND a.status = %(active)s AND a.resource_id IN "
        "(SELECT resource_id FROM {item} WHERE campaign_id = %(campaign)s AND kind = %(kind)s) "
        "GROUP BY a.resource_id, u.job_title, u.department",
    ),
    ObjectKind.ROLE: (
        "role_id",
        "SELECT r.role_id AS target, u.job_title, u.department, COUNT(DISTINCT u.id) AS n "
        "FROM {role_membership} r JOIN {user} u ON u.id = r.user_id "
        "WHERE u.status = %(active)s AND r.role_id IN "
        "(SELECT role_id FROM {item} WHERE campaign_id = %(campaign)s AND kind = %(kind)s) "
        "GROUP BY r.role_id, u.job_title, u.department",
    ),
}

_UPDATE = (
    "WITH grp AS (SELECT job_title, department, COUNT(*) AS n FROM {user} "
    "WHERE status = %(active)s AND job_title <> '' AND department <> '' GROUP BY job_title, department), "
    "held AS ({holders}) "
    "UPDATE {item} SET peers = x.peers, peers_holding = x.holding FROM ("
    "SELECT i.id, g.n - 1 AS peers, "
    # the beneficiary is one of the holders (the access is under review), unless it went meanwhile
    "CASE WHEN COALESCE(h.n, 0) > 0 THEN h.n - 1 ELSE 0 END AS holding "
    "FROM {item} i JOIN {user} b ON b.id = i.beneficiary_id "
    "JOIN grp g ON g.job_title = b.job_title AND g.department = b.department "
    "LEFT JOIN held h ON h.target = i.{column} AND h.job_title = b.job_title AND h.department = b.department "
    "WHERE i.campaign_id = %(campaign)s AND i.kind = %(kind)s"
    ") x WHERE {item}.id = x.id"
)


def peer_shares_count(campaign: CertificationCampaign) -> None:
    """Count every item's peers and peers holding its access (three statements, and one for the
    items whose beneficiary has no job title or department: no peers)."""
    tables = _tables()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # the items were just written in this transaction: without fresh statistics the planner
            # takes the campaign for one row and re-counts the holders for every item (minutes)
            cursor.execute(f"ANALYZE {tables['item']}")
        for kind, (column, holders) in _HOLDERS.items():
            sql = _UPDATE.format(holders=holders.format(**tables), column=column, **tables)
            cursor.execute(
                sql, {"active": UserStatus.ACTIVE.value, "campaign": campaign.pk, "kind": kind.value}
            )
    CertificationItem.objects.filter(campaign=campaign, peers__isnull=True).update(peers=0, peers_holding=0)

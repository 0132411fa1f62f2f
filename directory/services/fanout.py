"""Set-based role fan-out: grant and revoke what roles give, for all members at once.

Inserts skip what exists with ``ON CONFLICT DO NOTHING`` on the tables' unique constraints,
never with ``NOT EXISTS`` on the table being inserted into: with the statistics of a freshly
emptied table the planner picks a nested-loop anti-join whose scans see the rows the statement
itself adds, which is quadratic (100,000 members took minutes).

Each function runs a handful of SQL statements whatever the number of members (100,000 members
is a few statements, not a Python loop per member). They must run inside the caller's
transaction; the caller audits through the ``FanoutResult`` they return.

Rules (seed 002 "Alteração de um papel", seed 004):
- granting: members lacking the access get it (created, role-managed); members who already
  have it keep it and it becomes role-managed (adopted);
- revoking: the role's grant is dropped; the access goes only when no other role and no manual
  decision keeps it; the administrator may choose to keep it as manually managed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from directory import ports
from directory.models import AccountStatus, AccountType, Management, ProvisioningEvent, Resource


@dataclass
class Scope:
    """Which members a fan-out concerns: all members of ``role_id`` or only ``user_ids``."""

    role_id: int
    user_ids: Sequence[int] | None = None

    def member_sql(self, alias: str = "rm") -> tuple[str, list]:
        sql = f"{alias}.role_id = %s"
        params: list = [self.role_id]
        if self.user_ids is not None:
            if not self.user_ids:
                return "1 = 0", []
            sql += f" AND {alias}.user_id IN ({', '.join(['%s'] * len(self.user_ids))})"
            params += list(self.user_ids)
        return sql, params

    def owner_sql(self, column: str) -> tuple[str, list]:
        if self.user_ids is None:
            return "1 = 1", []
        if not self.user_ids:
            return "1 = 0", []
        return f"{column} IN ({', '.join(['%s'] * len(self.user_ids))})", list(self.user_ids)


@dataclass
class FanoutResult:
    """What a fan-out did, row by row where the audit needs it."""

    accounts_created: list[tuple[int, int]] = field(default_factory=list)  # (account_id, owner_id)
    accounts_reactivated: list[tuple[int, int]] = field(default_factory=list)
    accounts_adopted: int = 0
    accounts_revoked: list[tuple[int, int | None]] = field(default_factory=list)
    accounts_kept_manual: int = 0
    identifier_conflicts: list[int] = field(default_factory=list)  # user ids
    memberships_created: list[tuple[int, int, int | None]] = field(
        default_factory=list
    )  # (m, account, owner)
    memberships_adopted: int = 0
    memberships_revoked: list[tuple[int, int, int | None]] = field(default_factory=list)
    memberships_kept_manual: int = 0
    provisioning_entries: int = 0

    def merge(self, other: FanoutResult) -> None:
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, mine + theirs)

    def summary(self) -> dict[str, int]:
        return {
            "accounts_created": len(self.accounts_created),
            "accounts_reactivated": len(self.accounts_reactivated),
            "accounts_adopted": self.accounts_adopted,
            "accounts_revoked": len(self.accounts_revoked),
            "accounts_kept_manual": self.accounts_kept_manual,
            "identifier_conflicts": len(self.identifier_conflicts),
            "memberships_created": len(self.memberships_created),
            "memberships_adopted": self.memberships_adopted,
            "memberships_revoked": len(self.memberships_revoked),
            "memberships_kept_manual": self.memberships_kept_manual,
            "provisioning_entries": self.provisioning_entries,
        }


def _exec(sql: str, params: Sequence) -> int:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount


def _rows(sql: str, params: Sequence) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def grant_resource(*, scope: Scope, resource: Resource, role_code: str) -> FanoutResult:
    """Give every member in ``scope`` a REGULAR account on ``resource`` kept by the role."""
    res = FanoutResult()
    now = timezone.now()
    member_sql, member_params = scope.member_sql()

    # Members whose username is already the identifier of someone else's (or an orphan)
    # account on this resource cannot get an account automatically: report them.
    res.identifier_conflicts = [
        row[0]
        for row in _rows(
            f"""
            SELECT u.id FROM directory_rolemembership rm
            JOIN directory_user u ON u.id = rm.user_id
            WHERE {member_sql}
              AND NOT EXISTS (SELECT 1 FROM directory_account a WHERE a.owner_id = u.id
                              AND a.resource_id = %s AND a.account_type = %s)
              AND EXISTS (SELECT 1 FROM directory_account a2 WHERE a2.resource_id = %s
                          AND a2.identifier = u.username)
            """,
            [*member_params, resource.pk, AccountType.REGULAR, resource.pk],
        )
    ]

    res.accounts_created = _rows(
        f"""
        INSERT INTO directory_account (resource_id, owner_id, identifier, account_type, status, management,
            manual, is_temporary, attributes, created_at, updated_at, status_changed_at)
        SELECT %s, u.id, u.username, %s, CASE WHEN u.status = 'ACTIVE' THEN %s ELSE %s END,
               %s, %s, %s, %s, %s, %s, %s
        FROM directory_rolemembership rm JOIN directory_user u ON u.id = rm.user_id
        WHERE {member_sql} AND u.status IN ('ACTIVE', 'INACTIVE')
        ON CONFLICT DO NOTHING
        RETURNING id, owner_id
        """,
        [
            resource.pk,
            AccountType.REGULAR,
            AccountStatus.ACTIVE,
            AccountStatus.INACTIVE,
            Management.ROLE,
            False,
            False,
            "{}",
            now,
            now,
            now,
            *member_params,
        ],
    )

    # A member's REVOKED account on the resource comes back (the application re-creates it).
    res.accounts_reactivated = _rows(
        f"""
        UPDATE directory_account SET status = %s, management = %s, updated_at = %s, status_changed_at = %s
        WHERE resource_id = %s AND account_type = %s AND status = %s
          AND owner_id IN (SELECT rm.user_id FROM directory_rolemembership rm
                           JOIN directory_user u ON u.id = rm.user_id
                           WHERE {member_sql} AND u.status = 'ACTIVE')
        RETURNING id, owner_id
        """,
        [
            AccountStatus.ACTIVE,
            Management.ROLE,
            now,
            now,
            resource.pk,
            AccountType.REGULAR,
            AccountStatus.REVOKED,
            *member_params,
        ],
    )

    _exec(
        f"""
        INSERT INTO directory_accountrolegrant (account_id, role_id)
        SELECT a.id, %s FROM directory_rolemembership rm
        JOIN directory_account a ON a.owner_id = rm.user_id
        WHERE {member_sql} AND a.resource_id = %s AND a.account_type = %s AND a.status <> %s
        ON CONFLICT DO NOTHING
        """,
        [scope.role_id, *member_params, resource.pk, AccountType.REGULAR, AccountStatus.REVOKED],
    )
    owner_sql, owner_params = scope.owner_sql("owner_id")
    res.accounts_adopted = _exec(
        f"""
        UPDATE directory_account SET management = %s, updated_at = %s
        WHERE resource_id = %s AND management <> %s AND {owner_sql}
          AND id IN (SELECT account_id FROM directory_accountrolegrant WHERE role_id = %s)
        """,
        [Management.ROLE, now, resource.pk, Management.ROLE, *owner_params, scope.role_id],
    )

    created = res.accounts_created + res.accounts_reactivated
    res.provisioning_entries += ports.provisioning().entries_write_many(
        resource=resource,
        event_type=ProvisioningEvent.CREATE_ACCOUNT,
        rows=(
            {"account_id": acc, "user_id": owner, "payload": {"reason": "role", "role": role_code}}
            for acc, owner in created
        ),
    )
    return res


def grant_entitlements(
    *, scope: Scope, entitlement_ids: Sequence[int], resource: Resource, role_code: str
) -> FanoutResult:
    """Give every member in ``scope`` the entitlements (all on ``resource``) on their account."""
    res = FanoutResult()
    if not entitlement_ids:
        return res
    now = timezone.now()
    member_sql, member_params = scope.member_sql()
    ent_in = ", ".join(["%s"] * len(entitlement_ids))
    accounts_from = f"""
        FROM directory_rolemembership rm
        JOIN directory_account a ON a.owner_id = rm.user_id AND a.resource_id = %s
             AND a.account_type = %s AND a.status <> %s
        JOIN directory_entitlement e ON e.id IN ({ent_in})
    """
    from_params = [resource.pk, AccountType.REGULAR, AccountStatus.REVOKED, *entitlement_ids]

    res.memberships_created = _rows(
        f"""
        INSERT INTO directory_entitlementmembership (account_id, entitlement_id, management, manual, created_at)
        SELECT a.id, e.id, %s, %s, %s {accounts_from}
        WHERE {member_sql}
        ON CONFLICT DO NOTHING
        RETURNING id, account_id, entitlement_id
        """,
        [Management.ROLE, False, now, *from_params, *member_params],
    )
    _exec(
        f"""
        INSERT INTO directory_membershiprolegrant (membership_id, role_id)
        SELECT em.id, %s {accounts_from}
        JOIN directory_entitlementmembership em ON em.account_id = a.id AND em.entitlement_id = e.id
        WHERE {member_sql}
        ON CONFLICT DO NOTHING
        """,
        [scope.role_id, *from_params, *member_params],
    )
    owner_sql, owner_params = scope.owner_sql("a.owner_id")
    res.memberships_adopted = _exec(
        f"""
        UPDATE directory_entitlementmembership SET management = %s
        WHERE entitlement_id IN ({ent_in}) AND management <> %s
          AND id IN (SELECT g.membership_id FROM directory_membershiprolegrant g
                     JOIN directory_entitlementmembership em ON em.id = g.membership_id
                     JOIN directory_account a ON a.id = em.account_id
                     WHERE g.role_id = %s AND {owner_sql})
        """,
        [Management.ROLE, *entitlement_ids, Management.ROLE, scope.role_id, *owner_params],
    )
    # owner ids for the audit trail: one query, not one per row
    if res.memberships_created:
        owners = dict(
            _rows(
                f"""SELECT a.id, a.owner_id FROM directory_account a WHERE a.resource_id = %s
                    AND a.account_type = %s AND a.owner_id IN (SELECT rm.user_id FROM directory_rolemembership rm
                    WHERE {member_sql})""",
                [resource.pk, AccountType.REGULAR, *member_params],
            )
        )
        created = res.memberships_created
        res.provisioning_entries += ports.provisioning().entries_write_many(
            resource=resource,
            event_type=ProvisioningEvent.GRANT_ENTITLEMENT,
            rows=(
                {
                    "account_id": acc,
                    "entitlement_id": ent,
                    "user_id": owners.get(acc),
                    "payload": {"reason": "role", "role": role_code},
                }
                for _m, acc, ent in created
            ),
        )
        res.memberships_created = [(m, acc, owners.get(acc)) for m, acc, _ent in created]
    return res


def revoke_entitlements(
    *, scope: Scope, entitlement_ids: Sequence[int], resource: Resource, role_code: str, keep_as_manual: bool
) -> FanoutResult:
    """Drop the role's grant of the entitlements for the members in ``scope``; revoke the
    memberships nothing else keeps (or keep them as manual)."""
    res = FanoutResult()
    if not entitlement_ids:
        return res
    ent_in = ", ".join(["%s"] * len(entitlement_ids))
    owner_sql, owner_params = scope.owner_sql("a.owner_id")
    # memberships this role grants to the scope, and those no other role keeps
    granted = f"""
        SELECT em.id FROM directory_entitlementmembership em
        JOIN directory_account a ON a.id = em.account_id
        JOIN directory_membershiprolegrant g ON g.membership_id = em.id AND g.role_id = %s
        WHERE em.entitlement_id IN ({ent_in}) AND {owner_sql}
    """
    granted_params = [scope.role_id, *entitlement_ids, *owner_params]
    orphaned = f"""{granted} AND NOT EXISTS (SELECT 1 FROM directory_membershiprolegrant g2
                                            WHERE g2.membership_id = em.id AND g2.role_id <> %s)"""
    orphaned_params = [*granted_params, scope.role_id]

    if keep_as_manual:
        res.memberships_kept_manual = _exec(
            f"UPDATE directory_entitlementmembership SET manual = %s, management = %s WHERE id IN ({orphaned})",
            [True, Management.MANUAL, *orphaned_params],
        )
    else:
        res.memberships_kept_manual = _exec(
            f"UPDATE directory_entitlementmembership SET management = %s WHERE manual = %s AND id IN ({orphaned})",
            [Management.MANUAL, True, *orphaned_params],
        )
        to_revoke = _rows(
            f"""SELECT em.id, em.account_id, em.entitlement_id, a.owner_id
                FROM directory_entitlementmembership em JOIN directory_account a ON a.id = em.account_id
                WHERE em.manual = %s AND em.id IN ({orphaned})""",
            [False, *orphaned_params],
        )
        if to_revoke:
            ids = [r[0] for r in to_revoke]
            _delete_ids("directory_membershiprolegrant", "membership_id", ids)
            _delete_ids("directory_entitlementmembership", "id", ids)
            res.provisioning_entries += ports.provisioning().entries_write_many(
                resource=resource,
                event_type=ProvisioningEvent.REVOKE_ENTITLEMENT,
                rows=(
                    {
                        "account_id": acc,
                        "entitlement_id": ent,
                        "user_id": owner,
                        "payload": {"reason": "role", "role": role_code},
                    }
                    for _m, acc, ent, owner in to_revoke
                ),
            )
            res.memberships_revoked = [(m, acc, owner) for m, acc, _e, owner in to_revoke]
    _exec(
        f"""DELETE FROM directory_membershiprolegrant WHERE role_id = %s AND membership_id IN
            (SELECT em.id FROM directory_entitlementmembership em JOIN directory_account a ON a.id = em.account_id
             WHERE em.entitlement_id IN ({ent_in}) AND {owner_sql})""",
        [scope.role_id, *entitlement_ids, *owner_params],
    )
    return res


def revoke_resource(
    *, scope: Scope, resource: Resource, role_code: str, keep_as_manual: bool
) -> FanoutResult:
    """Drop the role's grant of accounts on ``resource`` for the members in ``scope``; revoke
    the accounts nothing else keeps (or keep them as manual)."""
    res = FanoutResult()
    now = timezone.now()
    owner_sql, owner_params = scope.owner_sql("a.owner_id")
    orphaned = f"""
        id IN (SELECT g.account_id FROM directory_accountrolegrant g
               JOIN directory_account a ON a.id = g.account_id
               WHERE g.role_id = %s AND a.resource_id = %s AND {owner_sql}
                 AND NOT EXISTS (SELECT 1 FROM directory_accountrolegrant g2
                                 WHERE g2.account_id = g.account_id AND g2.role_id <> %s))
    """
    orphaned_params = [scope.role_id, resource.pk, *owner_params, scope.role_id]
    if keep_as_manual:
        res.accounts_kept_manual = _exec(
            f"UPDATE directory_account SET manual = %s, management = %s, updated_at = %s WHERE {orphaned}",
            [True, Management.MANUAL, now, *orphaned_params],
        )
    else:
        res.accounts_kept_manual = _exec(
            f"UPDATE directory_account SET management = %s, updated_at = %s WHERE manual = %s AND {orphaned}",
            [Management.MANUAL, now, True, *orphaned_params],
        )
        res.accounts_revoked = _rows(
            f"""UPDATE directory_account SET status = %s, management = %s, updated_at = %s, status_changed_at = %s
                WHERE manual = %s AND status <> %s AND {orphaned}
                RETURNING id, owner_id""",
            [
                AccountStatus.REVOKED,
                Management.MANUAL,
                now,
                now,
                False,
                AccountStatus.REVOKED,
                *orphaned_params,
            ],
        )
        if res.accounts_revoked:
            ids = [acc for acc, _owner in res.accounts_revoked]
            # the account's entitlements go with it (the application deletes the account)
            for chunk in _chunks(ids):
                in_ = ", ".join(["%s"] * len(chunk))
                _exec(
                    f"DELETE FROM directory_membershiprolegrant WHERE membership_id IN "
                    f"(SELECT id FROM directory_entitlementmembership WHERE account_id IN ({in_}))",
                    chunk,
                )
                _exec(f"DELETE FROM directory_entitlementmembership WHERE account_id IN ({in_})", chunk)
            res.provisioning_entries += ports.provisioning().entries_write_many(
                resource=resource,
                event_type=ProvisioningEvent.REVOKE_ACCOUNT,
                rows=(
                    {"account_id": acc, "user_id": owner, "payload": {"reason": "role", "role": role_code}}
                    for acc, owner in res.accounts_revoked
                ),
            )
    _exec(
        f"""DELETE FROM directory_accountrolegrant WHERE role_id = %s AND account_id IN
            (SELECT a.id FROM directory_account a WHERE a.resource_id = %s AND {owner_sql})""",
        [scope.role_id, resource.pk, *owner_params],
    )
    return res


def _chunks(ids: Sequence[int], size: int = 5000) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def _delete_ids(table: str, column: str, ids: Sequence[int]) -> None:
    for chunk in _chunks(ids):
        _exec(f"DELETE FROM {table} WHERE {column} IN ({', '.join(['%s'] * len(chunk))})", chunk)

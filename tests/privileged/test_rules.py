"""The most restrictive rule among a user's access groups on one credential: every dimension of
the order decides when the ones before it tie, whatever order the groups were made in."""

from __future__ import annotations

from typing import Any

import pytest

from blazon.audit.models import AuditEvent
from blazon.errors import ValidationFailed
from privileged.models import AccessGroup
from privileged.selectors import (
    _restrictive_key,
    groups_of,
    most_restrictive_group,
    rule_for,
    rules_by_credential,
)
from privileged.services.groups import access_group_create, access_group_delete, access_group_update
from tests.api.factories import AccountFactory

LEVEL = {"approver_kind": "USERS", "users": ["approver1"]}


def make(pam: dict[str, Any], code: str, **rule: Any) -> AccessGroup:
    data: dict[str, Any] = {
        "approval_required": True,
        "levels": [LEVEL],
        "max_window_minutes": 120,
        "governance_code_required": False,
        "justification_required": True,
        "emergency_allowed": False,
        **rule,
    }
    if not data["approval_required"]:
        data["levels"] = []
    return access_group_create(
        actor=pam["admin"],
        source="console",
        code=code,
        name=code,
        members=["user:stranger"],
        credentials=["proddb/postgres"],
        **data,
    )


# (loose rule, strict rule): they tie on every dimension before the one they differ on
DIMENSIONS = {
    "approval": ({"approval_required": False}, {"approval_required": True}),
    "levels": ({"levels": [LEVEL]}, {"levels": [LEVEL, {"approver_kind": "OWNER"}]}),
    "code": ({"governance_code_required": False}, {"governance_code_required": True}),
    "window": ({"max_window_minutes": 240}, {"max_window_minutes": 60}),
    "justification": ({"justification_required": False}, {"justification_required": True}),
    "emergency": ({"emergency_allowed": True}, {"emergency_allowed": False}),
}


@pytest.mark.parametrize("dimension", list(DIMENSIONS))
@pytest.mark.parametrize("strict_first", [True, False])
def test_the_most_restrictive_group_wins_on_each_dimension(pam, postgres, dimension, strict_first):
    loose, strict = DIMENSIONS[dimension]
    if strict_first:
        strict_group, loose_group = make(pam, "strict", **strict), make(pam, "loose", **loose)
    else:
        loose_group, strict_group = make(pam, "loose", **loose), make(pam, "strict", **strict)
    rule = rule_for(pam["stranger"], pam["postgres"])
    assert rule is not None
    assert rule.group == strict_group != loose_group
    # the list page's resolution agrees with the one-credential one
    assert rules_by_credential(pam["stranger"])[pam["postgres"].pk] == strict_group


def test_earlier_dimensions_outrank_later_ones(pam, postgres):
    """Approval with one level, a long window and no code beats no approval with a code and a
    short window: approval is the first dimension."""
    with_approval = make(pam, "approval", max_window_minutes=600)
    make(pam, "no-approval", approval_required=False, governance_code_required=True, max_window_minutes=5)
    assert rule_for(pam["stranger"], pam["postgres"]).group == with_approval
    # more levels beat a governance code
    two_levels = make(pam, "two-levels", levels=[LEVEL, LEVEL])
    make(pam, "one-level-code", governance_code_required=True, max_window_minutes=1)
    assert rule_for(pam["stranger"], pam["postgres"]).group == two_levels


def test_the_resolution_is_one_query(pam, postgres, django_assert_num_queries):
    for n in range(8):
        make(pam, f"g{n}", max_window_minutes=60 + n)
    with django_assert_num_queries(1):
        group = groups_of(pam["stranger"], pam["postgres"]).first()
    assert group.code == "g0"


def test_sql_order_and_python_order_agree(pam, postgres, django_assert_num_queries):
    for n, rule in enumerate(
        [
            {"approval_required": False},
            {"max_window_minutes": 30},
            {"governance_code_required": True},
            {"levels": [LEVEL, LEVEL]},
        ]
    ):
        make(pam, f"g{n}", **rule)
    in_sql = list(groups_of(pam["stranger"], pam["postgres"]))
    assert in_sql == sorted(in_sql, key=_restrictive_key)
    # rule_for's one prepared statement picks the same first group
    assert most_restrictive_group(pam["stranger"], pam["postgres"]) == in_sql[0]
    with django_assert_num_queries(1):
        most_restrictive_group(pam["stranger"], pam["postgres"].pk)


def test_membership_by_user_organization_and_role(pam):
    # dba1 through the role, dba2 through the organization, a named user directly
    assert rule_for(pam["dba1"], pam["postgres"]).group == pam["group"]
    assert rule_for(pam["dba2"], pam["postgres"]).group == pam["group"]
    assert rule_for(pam["stranger"], pam["postgres"]) is None
    access_group_update(
        actor=pam["admin"], source="console", group=pam["group"], data={"members": ["user:stranger"]}
    )
    assert rule_for(pam["stranger"], pam["postgres"]).group == pam["group"]
    assert rule_for(pam["dba1"], pam["postgres"]) is None


def test_an_inactive_group_gives_nothing(pam):
    access_group_update(actor=pam["admin"], source="console", group=pam["group"], data={"active": False})
    assert rule_for(pam["dba1"], pam["postgres"]) is None


@pytest.fixture
def postgres(pam):
    return pam["postgres"]


# --- the group services ---------------------------------------------------------------------------


def test_a_group_change_is_audited_with_its_relations(pam):
    access_group_update(
        actor=pam["admin"],
        source="console",
        group=pam["group"],
        data={"max_window_minutes": 60, "credentials": ["proddb/postgres"]},
    )
    event = AuditEvent.objects.filter(action="privileged.group.updated").latest("pk")
    assert event.old_values["max_window_minutes"] == 120 and event.new_values["max_window_minutes"] == 60
    assert event.old_values["accounts"] == ["proddb/postgres", "proddb/shared-ops"]
    assert event.new_values["accounts"] == ["proddb/postgres"]


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"members": ["user:nobody"]}, "members", "Unknown user"),
        ({"members": ["team:x"]}, "members", "is not a member"),
        ({"credentials": ["proddb/none"]}, "credentials", "No account"),
        ({"levels": []}, "levels", "at least one approval level"),
        ({"approval_required": False}, "levels", "has no levels"),
        ({"levels": [{"approver_kind": "USERS", "users": []}]}, "levels", "at least one approver"),
        ({"levels": [{"approver_kind": "QUEUE", "queue": "nope"}]}, "levels", "no queue named"),
        ({"max_window_minutes": 0}, "max_window_minutes", "from 1 to"),
    ],
)
def test_bad_group_input_changes_nothing(pam, data, field, words):
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        access_group_update(actor=pam["admin"], source="console", group=pam["group"], data=data)
    assert words in caught.value.fields[field][0]
    group = AccessGroup.objects.get(pk=pam["group"].pk)
    assert group.levels.count() == 2 and group.credentials.count() == 2 and group.max_window_minutes == 120
    assert AuditEvent.objects.count() == before


def test_a_regular_account_is_not_a_privileged_credential(pam):
    AccountFactory(resource=pam["resource"], identifier="ana", owner=pam["dba1"])
    with pytest.raises(ValidationFailed, match="only administrative, application and shared"):
        access_group_update(
            actor=pam["admin"], source="console", group=pam["group"], data={"credentials": ["proddb/ana"]}
        )


def test_delete_is_audited(pam):
    access_group_delete(actor=pam["admin"], source="console", group=pam["group"])
    assert not AccessGroup.objects.exists()
    assert AuditEvent.objects.filter(action="privileged.group.deleted").exists()

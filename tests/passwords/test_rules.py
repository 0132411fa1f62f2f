"""Each rule of a password policy is reported on its own, and the right policy applies."""

from __future__ import annotations

import pytest

from passwords.models import ForbiddenWord, PasswordChangePolicy, PasswordPolicy
from passwords.rules import password_check, shipped_words
from passwords.selectors import change_policy_for, policy_for
from tests.api.factories import OrganizationFactory, UserFactory
from tests.passwords.conftest import NEW, OLD

pytestmark = pytest.mark.django_db


def unmet(user, candidate, **kw):
    return {r.code: r.message for r in password_check(user, candidate, **kw) if not r.ok}


@pytest.mark.parametrize(
    ("candidate", "rule", "message"),
    [
        ("Sh0rt-pass", "min_length", "At least 12 characters."),
        ("NO-LOWER-CASE-42", "lowercase", "A lower-case letter."),
        ("no-upper-case-42", "uppercase", "An upper-case letter."),
        ("No-Digits-At-All", "digit", "A digit."),
        ("NoSymbolsHere42x", "symbol", "A symbol (such as ! # % or -)."),
        ("Carol-Rocks-4242", "personal_info", "Not your username, first or last name."),
        ("x" * 255 + "A1-", "max_length", "At most 256 characters."),
    ],
)
def test_each_broken_rule_is_reported_alone(carol, candidate, rule, message):
    assert unmet(carol, candidate, history=False) == {rule: message}


def test_every_rule_is_listed_met_or_not(carol):
    codes = [r.code for r in password_check(carol, NEW)]
    assert codes == [
        "min_length",
        "max_length",
        "lowercase",
        "uppercase",
        "digit",
        "symbol",
        "personal_info",
        "dictionary",
        "history",
    ]
    assert unmet(carol, NEW) == {}


def test_a_shipped_dictionary_word_is_refused_whatever_its_case(carol):
    assert "password" in shipped_words()
    problems = unmet(carol, "My-PassWord-Is-42")
    assert problems == {"dictionary": "Not a common or forbidden word (it contains “password”)."}


def test_the_administrators_words_are_refused_ignoring_case(carol):
    assert unmet(carol, "Stark-Industries-42") == {}
    ForbiddenWord.objects.create(word="stark")
    assert unmet(carol, "STARK-Industries-42") == {
        "dictionary": "Not a common or forbidden word (it contains “stark”)."
    }


def test_the_last_n_passwords_are_refused_older_ones_are_not(carol):
    from passwords.services import PasswordChangeReason, password_change

    assert unmet(carol, OLD) == {"history": "Not one of your last 3 passwords."}
    for n in range(3):
        password_change(
            user=carol,
            new_password=f"Fresh-Pattern-Nr{n}!",
            actor=None,
            source="console",
            reason=PasswordChangeReason.DIRECTORY,
        )
    carol.refresh_from_db()
    assert "history" not in unmet(carol, OLD)  # four changes ago
    assert unmet(carol, "Fresh-Pattern-Nr0!") == {"history": "Not one of your last 3 passwords."}


def test_rules_switched_off_are_not_listed(db):
    PasswordPolicy.objects.create(
        name="Lax",
        is_default=True,
        min_length=4,
        require_uppercase=False,
        require_digit=False,
        use_dictionary=False,
        forbid_personal_info=False,
        history_count=0,
    )
    user = UserFactory(username="dave")
    assert [r.code for r in password_check(user, "password dave")] == [
        "min_length",
        "max_length",
        "lowercase",
    ]


def test_without_any_policy_the_built_in_default_applies(db):
    user = UserFactory(username="erin")
    policy = policy_for(user)
    assert policy.pk is None and policy.min_length == 10 and policy.history_count == 5
    assert change_policy_for(user).require_current is True


def test_policy_by_organization_covers_sub_organizations_then_attribute_then_default(policy):
    parent = OrganizationFactory(code="bank", name="Bank")
    child = OrganizationFactory(code="bank-it", name="Bank IT", parent=parent)
    by_org = PasswordPolicy.objects.create(name="Bank", organization=parent, priority=20, min_length=16)
    by_attr = PasswordPolicy.objects.create(
        name="Admins", attribute_name="employee_type", attribute_value="admin", priority=10, min_length=20
    )
    by_custom = PasswordPolicy.objects.create(
        name="Clearance", attribute_name="clearance", attribute_value="secret", priority=30, min_length=24
    )
    assert policy_for(UserFactory(organization=child)) == by_org
    assert policy_for(UserFactory(organization=child, employee_type="Admin")) == by_attr
    assert policy_for(UserFactory(attributes={"clearance": "SECRET"})) == by_custom
    assert policy_for(UserFactory()) == policy
    PasswordChangePolicy.objects.create(name="Bank change", organization=parent, recent_login_minutes=5)
    assert change_policy_for(UserFactory(organization=child)).recent_login_minutes == 5

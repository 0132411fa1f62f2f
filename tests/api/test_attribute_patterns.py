"""Administrators' patterns run in linear time (issue 12, item 13): attribute formats and the
``regex`` operator of validation policy rules are evaluated with RE2, so ``(a+)+$`` against a
long value answers "does not match" at once instead of backtracking for hours; a pattern RE2
cannot take (backreferences, lookarounds) is refused when it is saved, with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from blazon.errors import ValidationFailed
from directory.models import AttributeDefinition, AttributeScope
from directory.services import config
from directory.services.users import attribute_values_validate
from requests_workflow.services.policies import validation_policy_create
from requests_workflow.services.validation import rule_holds

pytestmark = pytest.mark.django_db

EVIL = r"(a+)+$"
LONG = "a" * 990 + "!"  # attribute values hold at most 1000 characters


def define(name: str, regex: str) -> AttributeDefinition:
    return AttributeDefinition.objects.create(
        scope=AttributeScope.USER, name=name, label=name.title(), regex=regex
    )


def test_a_catastrophic_pattern_against_a_long_value_is_a_plain_mismatch():
    define("code", EVIL)
    with pytest.raises(ValidationFailed) as exc:
        attribute_values_validate(scope=AttributeScope.USER, values={"code": LONG})
    assert "does not match the required format" in exc.value.fields["attributes.code"][0]
    assert attribute_values_validate(scope=AttributeScope.USER, values={"code": "aaaa"}) == {"code": "aaaa"}


def test_the_catastrophic_pattern_answers_in_a_fresh_process():
    """Run apart, so the check ends with an outcome even where the pattern would backtrack
    (Python's re holds the interpreter: a thread could not time it out)."""
    script = textwrap.dedent(
        f"""
        import django
        django.setup()
        from directory.models import AttributeDefinition
        from directory.services.users.attributes import _attributes_clean
        defn = AttributeDefinition(scope="USER", name="code", label="Code", regex={EVIL!r})
        clean, errors = _attributes_clean([defn], {{"code": "a" * 40 + "!"}})
        print(errors["attributes.code"][0])
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "blazon.settings"}
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the attribute pattern is still backtracking after 120 s")
    assert "does not match the required format" in done.stdout, done.stderr


@pytest.mark.parametrize(
    ("regex", "why"),
    [(r"(a)\1", "invalid escape sequence"), (r"(?=a)a", "invalid perl operator"), ("[a-", "missing ]")],
)
def test_a_pattern_re2_cannot_take_is_refused_when_saved(regex, why):
    with pytest.raises(ValidationFailed) as exc:
        config.attribute_definition_create(
            actor=None, source="api", scope="USER", name="x", label="X", regex=regex
        )
    message = exc.value.fields["regex"][0]
    assert "Not a valid regular expression" in message and why in message and "RE2" in message
    assert not AttributeDefinition.objects.exists()


def test_the_api_refuses_a_backreference_pattern(admin):
    response = admin.post(
        "/api/v1/attribute-definitions/",
        {"scope": "USER", "name": "x", "label": "X", "regex": r"(\w+) \1"},
        format="json",
    )
    assert response.status_code == 400
    assert "backreferences" in response.json()["error"]["fields"]["regex"][0]


def test_a_pattern_saved_before_re2_gives_a_clear_error_not_a_crash():
    define("legacy", r"(a)\1")  # written straight to the table, as an old release could
    with pytest.raises(ValidationFailed) as exc:
        attribute_values_validate(scope=AttributeScope.USER, values={"legacy": "aa"})
    assert "an administrator must correct the attribute's pattern" in exc.value.fields["attributes.legacy"][0]


def test_validation_policy_rules_use_re2_too():
    assert rule_holds("regex", LONG, EVIL) is False
    assert rule_holds("regex", "Finance", "Fin.*") is True
    assert rule_holds("regex", "aa", r"(a)\1") is False  # a legacy pattern never holds
    with pytest.raises(ValidationFailed) as exc:
        validation_policy_create(
            actor=None,
            source="console",
            name="Back",
            beneficiary_rules=[{"attribute": "department", "operator": "regex", "value": r"(a)\1"}],
        )
    assert "invalid pattern" in str(exc.value.fields)

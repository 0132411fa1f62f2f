"""Username policy (seed 002 "Gestão de identidade"): patterns in order, fall-backs, numeric
suffixes, accent folding, maximum length, and a clear error when no username is free."""

from __future__ import annotations

import pytest

from blazon.errors import ValidationFailed
from directory.models import User, UsernamePolicy
from directory.services.config import USERNAME_PLACEHOLDERS, username_patterns_validate
from directory.services.users.usernames import username_generate, username_placeholders

pytestmark = pytest.mark.django_db


def take(*usernames: str) -> None:
    User.objects.bulk_create([User(username=u, first_name="x", last_name="y") for u in usernames])


def policy(**kw) -> UsernamePolicy:
    kw.setdefault("patterns", ["{first}.{last}", "{first}.{middle_initial}.{last}", "{f}{last}"])
    return UsernamePolicy.objects.create(**kw)


def test_first_pattern_with_accents_folded_and_lowercased():
    policy()
    assert username_generate(first_name="João", last_name="Conceição") == "joao.conceicao"
    assert username_generate(first_name="Ñoño", last_name="Müller-Straße") == "nono.mullerstrasse"
    assert username_generate(first_name="Seán", last_name="O'Brien") == "sean.obrien"


def test_default_policy_applies_when_none_is_configured():
    assert not UsernamePolicy.objects.exists()
    assert username_generate(first_name="Ana", last_name="Lima") == "ana.lima"


def test_falls_back_to_the_next_patterns_in_order():
    policy()
    take("maria.silva")
    assert username_generate(first_name="Maria", last_name="Silva", middle_name="Eduarda") == "maria.e.silva"
    take("maria.e.silva")
    assert username_generate(first_name="Maria", last_name="Silva", middle_name="Eduarda") == "msilva"


def test_pattern_whose_placeholder_is_empty_is_skipped():
    policy()
    take("paulo.souza")
    # no middle name: "{first}.{middle_initial}.{last}" is skipped, not turned into "paulo..souza"
    assert username_generate(first_name="Paulo", last_name="Souza") == "psouza"


def test_middle_is_derived_from_compound_names_without_particles():
    values = username_placeholders(first_name="João Pedro", last_name="da Conceição Silva")
    assert values == {
        "first": "Joao",
        "last": "Silva",
        "middle": "Pedro",
        "f": "J",
        "l": "S",
        "middle_initial": "P",
    }
    assert set(values) == USERNAME_PLACEHOLDERS


def test_numeric_suffix_on_the_first_pattern_after_all_patterns_are_taken():
    policy()
    take("rui.costa", "rcosta")
    assert username_generate(first_name="Rui", last_name="Costa") == "rui.costa2"
    take("rui.costa2", "rui.costa3")
    assert username_generate(first_name="Rui", last_name="Costa") == "rui.costa4"


def test_taken_check_is_case_insensitive_and_honours_exclude():
    policy()
    take("Ana.Lima")
    assert username_generate(first_name="Ana", last_name="Lima") == "alima"
    assert username_generate(first_name="Ana", last_name="Lima", exclude=["alima"]) == "ana.lima2"


def test_max_length_truncates_and_leaves_room_for_the_suffix():
    policy(patterns=["{first}.{last}"], max_length=10)
    assert username_generate(first_name="Bartholomew", last_name="Fitzgerald") == "bartholome"
    take("bartholome")
    assert username_generate(first_name="Bartholomew", last_name="Fitzgerald") == "bartholom2"
    # never ends with a separator after truncation
    assert username_generate(first_name="Alexandre", last_name="Dias") == "alexandre"


def test_no_lowercase_keeps_the_case():
    policy(patterns=["{first}{l}"], lowercase=False)
    assert username_generate(first_name="Zoë", last_name="Ward") == "ZoeW"


def test_exhaustion_is_a_clear_error():
    policy(patterns=["{first}.{last}"], max_suffix=3)
    take("lia.reis", "lia.reis2", "lia.reis3")
    with pytest.raises(ValidationFailed) as exc:
        username_generate(first_name="Lia", last_name="Reis")
    assert "No username available for Lia Reis" in exc.value.message
    assert "lia.reis3" in exc.value.message
    assert "username" in exc.value.fields


def test_exhaustion_without_suffixes():
    policy(patterns=["{first}.{last}"], numeric_suffix=False)
    take("lia.reis")
    with pytest.raises(ValidationFailed, match="No username available"):
        username_generate(first_name="Lia", last_name="Reis")


def test_name_without_usable_letters_is_a_clear_error():
    policy(patterns=["{first}.{last}"])
    with pytest.raises(ValidationFailed, match="No username can be built"):
        username_generate(first_name="李", last_name="王")


def test_one_query_whatever_the_number_of_candidates(django_assert_num_queries):
    p = policy()
    take(*["joana.melo"] + [f"joana.melo{n}" for n in range(2, 40)] + ["jmelo"])
    with django_assert_num_queries(1):
        assert username_generate(first_name="Joana", last_name="Melo", policy=p) == "joana.melo40"


def test_every_documented_placeholder_is_accepted_by_the_policy_validation():
    patterns = [
        "{first}.{last}",
        "{first}.{middle}.{last}",
        "{f}{last}",
        "{first}{l}",
        "{first}.{middle_initial}.{last}",
    ]
    assert username_patterns_validate(patterns) == patterns

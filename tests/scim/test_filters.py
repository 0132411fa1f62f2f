"""The filter grammar (RFC 7644 §3.4.2.2): every operator, precedence, value paths, URNs, and
bad filters (400 invalidFilter); compiled to SQL, run against PostgreSQL."""

from __future__ import annotations

import pytest

from directory.models import User, UserStatus
from scim.errors import ScimError
from scim.filters import And, Compare, Not, Or, Present, compile_q, parse_filter
from scim.representation import user_filter_fields, users_queryset
from scim.schemas import USER_SCHEMAS

URNS = USER_SCHEMAS


def p(text: str):
    return parse_filter(text, URNS)


def test_precedence_not_then_and_then_or():
    a, b, c = (Compare("username", "eq", x) for x in "abc")
    assert p('userName eq "a" or userName eq "b" and userName eq "c"') == Or(a, And(b, c))
    assert p('(userName eq "a" or userName eq "b") and userName eq "c"') == And(Or(a, b), c)
    assert p('not (userName eq "a") and userName eq "b"') == And(Not(a), b)
    assert p("title pr") == Present("title")


def test_names_operators_and_keywords_are_case_insensitive_and_urns_are_stripped():
    assert p('USERNAME EQ "a"') == Compare("username", "eq", "a")
    assert p('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D"') == Compare(
        "department", "eq", "R&D"
    )
    assert p('urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "A"') == Compare(
        "name.givenname", "sw", "A"
    )


def test_value_path_names_sub_attributes():
    assert p('emails[type eq "work" and value co "@x"]') == And(
        Compare("emails.type", "eq", "work"), Compare("emails.value", "co", "@x")
    )


def test_literals():
    assert p("active eq true") == Compare("active", "eq", True)
    assert p("x eq null") == Compare("x", "eq", None)
    assert p("x gt 10") == Compare("x", "gt", 10)
    assert p("x lt 1.5") == Compare("x", "lt", 1.5)
    assert p(r'x eq "a \"quoted\" word"') == Compare("x", "eq", 'a "quoted" word')


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "userName eq",
        'userName "a"',
        'userName xx "a"',
        'userName eq "a" and',
        '(userName eq "a"',
        'userName eq "a")',
        "userName eq bareword",
        'not userName eq "a"',
        'emails[type eq "work"',
        'emails[type eq "work"]]',
        'emails[type[value eq "x"]]',
        "userName co 3",
        "userName gt true",
        "userName gt null",
        '"quoted" eq "a"',
        'urn:example:unknown:attr eq "a"',
        'userName eq "a" userName eq "b"',
        "a.b.c eq 1",
        "(" * 60 + 'userName eq "a"' + ")" * 60,
    ],
)
def test_bad_filters_are_invalid_filter(bad):
    with pytest.raises(ScimError) as exc:
        p(bad)
    assert exc.value.status == 400
    assert exc.value.scim_type in ("invalidFilter", "invalidPath")


@pytest.fixture
def people(db):
    def make(username, **kw):
        return User.objects.create(username=username, first_name=username.title(), last_name="X", **kw)

    return {
        "ada": make("ada", email="ada@corp.example", job_title="Engineer", department="R&D"),
        "bob": make("bob", email="bob@home.example", job_title="Clerk", department="Ops"),
        "cyd": make("cyd", job_title="", department="Ops", status=UserStatus.INACTIVE),
        "dan": make("dan", status=UserStatus.REVOKED),  # never shown by SCIM
    }


def run(text: str) -> set[str]:
    q = compile_q(p(text), user_filter_fields([]))
    return set(users_queryset().filter(q).values_list("username", flat=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "ADA"', {"ada"}),
        ('userName ne "ada"', {"bob", "cyd"}),
        ('emails.value co "corp"', {"ada"}),
        ('userName sw "b"', {"bob"}),
        ('emails ew ".example"', {"ada", "bob"}),
        ("title pr", {"ada", "bob"}),
        ('userName gt "bob"', {"cyd"}),
        ('userName ge "bob"', {"bob", "cyd"}),
        ('userName lt "bob"', {"ada"}),
        ('userName le "bob"', {"ada", "bob"}),
        ("active eq true", {"ada", "bob"}),
        ("active eq false", {"cyd"}),
        ('department eq "Ops" and active eq true', {"bob"}),
        ('title eq "Engineer" or not (department eq "Ops")', {"ada"}),
        ('emails[type eq "work" and value co "home"]', {"bob"}),
        ('emails[type eq "home"]', set()),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d"', {"ada"}),
        ('id eq "not-a-number"', set()),
        ("title eq null", {"cyd"}),
    ],
)
def test_filters_run_in_the_database(people, text, expected):
    assert run(text) == expected


def test_id_filter(people):
    assert run(f'id eq "{people["bob"].pk}"') == {"bob"}


def test_unknown_attribute_is_invalid_filter(people):
    with pytest.raises(ScimError) as exc:
        run('nickName eq "x"')
    assert exc.value.scim_type == "invalidFilter"


def test_a_filter_is_one_query(people, django_assert_num_queries):
    q = compile_q(
        p('userName eq "ada" or (emails co "home" and not (active eq false))'), user_filter_fields([])
    )
    with django_assert_num_queries(1):
        list(User.objects.filter(q).values_list("pk", flat=True))

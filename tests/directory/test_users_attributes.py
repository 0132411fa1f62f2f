"""Administrator-defined attributes (seed 002: type, required, unique, validation): each type is
checked and coerced, required and unique are enforced, the regex must match the whole value and
unknown names are refused — every problem reported per field."""

from __future__ import annotations

from datetime import date

import pytest

from blazon.errors import ValidationFailed
from directory.models import Account, AttributeDefinition, AttributeScope, AttributeType, Resource, User
from directory.services.users.attributes import attribute_values_validate

pytestmark = pytest.mark.django_db


def define(name, type=AttributeType.STRING, scope=AttributeScope.USER, resource=None, **kw):
    return AttributeDefinition.objects.create(
        scope=scope, resource=resource, name=name, label=name.title(), type=type, **kw
    )


def validate(values, **kw):
    return attribute_values_validate(scope=kw.pop("scope", AttributeScope.USER), values=values, **kw)


def errors_of(values, **kw) -> dict:
    with pytest.raises(ValidationFailed) as exc:
        validate(values, **kw)
    return exc.value.fields


def test_each_type_is_coerced_to_its_stored_form():
    define("badge", AttributeType.INTEGER)
    define("contractor", AttributeType.BOOLEAN)
    define("hired", AttributeType.DATE)
    define("alt_email", AttributeType.EMAIL)
    define("cost_centre")
    clean = validate(
        {
            "badge": "0042",
            "contractor": "yes",
            "hired": date(2024, 3, 1),
            "alt_email": " a@b.com ",
            "cost_centre": " CC-1 ",
        }
    )
    assert clean == {
        "badge": 42,
        "contractor": True,
        "hired": "2024-03-01",
        "alt_email": "a@b.com",
        "cost_centre": "CC-1",
    }
    assert validate({"badge": -7, "contractor": False, "hired": "2023-12-31"}) == {
        "badge": -7,
        "contractor": False,
        "hired": "2023-12-31",
    }


@pytest.mark.parametrize(
    ("type", "value", "message"),
    [
        (AttributeType.INTEGER, "4.5", "whole number"),
        (AttributeType.INTEGER, True, "whole number"),
        (AttributeType.BOOLEAN, "maybe", "yes or no"),
        (AttributeType.DATE, "31/12/2024", "YYYY-MM-DD"),
        (AttributeType.EMAIL, "not-an-email", "e-mail"),
        (AttributeType.STRING, 12, "Expected text"),
    ],
)
def test_wrong_type_is_refused_with_the_expected_form(type, value, message):
    define("field", type)
    fields = errors_of({"field": value})
    assert message in fields["attributes.field"][0]


def test_required_attribute_missing_or_blank():
    define("cpf", required=True)
    define("nickname")
    assert "Cpf is required." in errors_of({})["attributes.cpf"]
    assert "attributes.cpf" in errors_of({"cpf": "   ", "nickname": "x"})
    assert validate({"cpf": "123"}) == {"cpf": "123"}  # optional one may be absent


def test_regex_must_match_the_whole_value():
    define("cpf", regex=r"\d{3}\.\d{3}\.\d{3}-\d{2}")
    assert validate({"cpf": "123.456.789-09"}) == {"cpf": "123.456.789-09"}
    fields = errors_of({"cpf": "123.456.789-09 extra"})
    assert "does not match the required format" in fields["attributes.cpf"][0]


def test_unknown_attribute_is_an_error_naming_the_known_ones():
    define("badge", AttributeType.INTEGER)
    fields = errors_of({"badge": 1, "shoe_size": 44})
    assert "Unknown attribute 'shoe_size' (known: badge)." in fields["attributes.shoe_size"]


def test_every_problem_is_reported_at_once():
    define("badge", AttributeType.INTEGER, required=True)
    define("hired", AttributeType.DATE)
    with pytest.raises(ValidationFailed) as exc:
        validate({"hired": "yesterday", "x": 1})
    assert set(exc.value.fields) == {"attributes.badge", "attributes.hired", "attributes.x"}
    assert "Invalid attribute value(s)" in exc.value.message


def test_unique_among_existing_users_excluding_the_one_being_edited():
    define("badge", AttributeType.INTEGER, unique=True)
    owner = User.objects.create(username="owner", attributes={"badge": 7})
    fields = errors_of({"badge": "7"})
    assert "already used" in fields["attributes.badge"][0]
    assert validate({"badge": 7}, instance_pk=owner.pk) == {"badge": 7}
    assert validate({"badge": 8}) == {"badge": 8}


def test_account_attributes_belong_to_one_resource():
    ad = Resource.objects.create(code="ad", name="AD")
    sap = Resource.objects.create(code="sap", name="SAP")
    define("upn", scope=AttributeScope.ACCOUNT, resource=ad, unique=True, required=True)
    Account.objects.create(resource=ad, identifier="a", attributes={"upn": "a@corp"})
    Account.objects.create(resource=sap, identifier="b", attributes={"upn": "b@corp"})
    assert (
        "already used"
        in errors_of({"upn": "a@corp"}, scope=AttributeScope.ACCOUNT, resource=ad)["attributes.upn"][0]
    )
    assert validate({"upn": "b@corp"}, scope=AttributeScope.ACCOUNT, resource=ad) == {"upn": "b@corp"}
    # SAP has no attribute "upn" defined
    assert "attributes.upn" in errors_of({"upn": "x"}, scope=AttributeScope.ACCOUNT, resource=sap)


def test_unknown_scope_and_non_object_values():
    with pytest.raises(ValidationFailed, match="Unknown attribute scope"):
        attribute_values_validate(scope="GROUP", values={})
    with pytest.raises(ValidationFailed, match="Expected an object"):
        attribute_values_validate(scope=AttributeScope.USER, values=["a"])

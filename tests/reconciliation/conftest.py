"""An HR export and an application for the reconciliation tests: an administrator, an auditor,
employees already in the directory, and the folder CSV sources are read from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from directory.models import AttributeDefinition, AttributeScope, ConsoleRole
from reconciliation.services.profiles import profile_create
from tests.api.factories import UserFactory
from tests.requests_workflow.conftest import (
    run,  # noqa: F401 (the same fixture: service + its on-commit work)
)

HR_HEADER = "employee_id,first_name,last_name,email,department,job_title\n"


@pytest.fixture
def files(settings, tmp_path) -> Path:
    settings.BLAZON_RECONCILIATION_DIR = str(tmp_path)
    return tmp_path


@pytest.fixture
def people(db) -> dict[str, Any]:
    AttributeDefinition.objects.create(scope=AttributeScope.USER, name="employee_id", label="Employee id")
    admin = UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)
    auditor = UserFactory(username="auditor", console_role=ConsoleRole.AUDITOR)
    helpdesk = UserFactory(username="helpdesk", console_role=ConsoleRole.HELPDESK)
    ana = UserFactory(username="ana.souza", first_name="Ana", last_name="Souza", email="ana@corp.test",
                      department="Sales", attributes={"employee_id": "E1"})  # fmt: skip
    bruno = UserFactory(username="bruno.lima", first_name="Bruno", last_name="Lima", email="bruno@corp.test",
                        department="IT", attributes={"employee_id": "E2"})  # fmt: skip
    carla = UserFactory(username="carla.dias", first_name="Carla", last_name="Dias", email="carla@corp.test",
                        department="HR", attributes={"employee_id": "E3"})  # fmt: skip
    return {
        "admin": admin,
        "auditor": auditor,
        "helpdesk": helpdesk,
        "ana": ana,
        "bruno": bruno,
        "carla": carla,
    }


def hr_profile(admin, **extra):
    data = {
        "code": "hr",
        "name": "HR export",
        "kind": "USERS",
        "source_type": "csv",
        "source_settings": {"file": "hr.csv"},
        "key_field": "employee_id",
        "rules": [{"attribute": "attributes.employee_id", "operator": "EQUALS", "value": "{[employee_id]}"}],
        "mappings": [
            {"target": "first_name", "mode": "FIELD", "value": "{[first_name]}"},
            {"target": "last_name", "mode": "FIELD", "value": "{[last_name]}"},
            {"target": "email", "mode": "FIELD", "value": "{[email]}"},
            {"target": "department", "mode": "FIELD", "value": "{[department]}"},
            {"target": "attributes.employee_id", "mode": "FIELD", "value": "{[employee_id]}"},
            {"target": "username", "mode": "EXPRESSION",
             "value": "lower(ascii(first_name)) + '.' + lower(ascii(last_name))"},
        ],
        "actions": {"MISSING": "INACTIVATE"},
        **extra,
    }  # fmt: skip
    return profile_create(actor=admin, source="console", **data)


def write(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.write_bytes(text.encode(encoding))

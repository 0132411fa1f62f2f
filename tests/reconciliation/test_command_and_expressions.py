"""``manage.py reconcile`` and the sandbox of computed mappings."""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from directory.models import User
from reconciliation.expressions import ExpressionError, evaluate, render
from reconciliation.models import ReconciliationRun, RunStatus
from reconciliation.services.schedule import runs_start_due
from tests.reconciliation.conftest import HR_HEADER, hr_profile, write


@pytest.mark.django_db
def test_reconcile_command_json_and_dry_run(people, files):
    write(
        files / "hr.csv",
        HR_HEADER + "E1,Ana,Souza,ana@corp.test,Sales,Rep\nE9,Novo,Nome,novo@corp.test,IT,Dev\nbad\n",
    )
    hr_profile(people["admin"])
    out = StringIO()
    call_command("reconcile", "hr", "--dry-run", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["situations"] == {"FOUND": 1, "NOT_FOUND": 1}
    assert summary["actions"] == {"NONE": 1, "CREATE": 1} and summary["errors"] == 1
    assert not User.objects.filter(attributes__employee_id="E9").exists()
    out = StringIO()
    call_command("reconcile", "hr", "--full", stdout=out)
    assert "Situations:" in out.getvalue() and "CREATE: 1" in out.getvalue()
    assert User.objects.filter(attributes__employee_id="E9").exists()
    with pytest.raises(CommandError, match="No reconciliation profile 'nope'"):
        call_command("reconcile", "nope")


def test_templates_fixed_dynamic_and_mixed():
    row = {"first": "Ana", "last": "Souza", "sys": "SAP"}
    assert render("static", row) == "static"
    assert render("{[first]}", row) == "Ana"
    assert render("{[first]}.{[last]}", row) == "Ana.Souza"
    assert render("Sistema {[sys]}", row) == "Sistema SAP"
    assert render("{[missing]}", row) == ""
    with pytest.raises(ExpressionError, match="no field 'missing'"):
        render("{[missing]}", row, strict=True)


def test_expressions_compute_values():
    row = {"first_name": "José", "last_name": "da Silva", "Cost Center": "CC-42"}
    assert (
        evaluate("lower(ascii(first_name)) + '.' + lower(replace(last_name, ' ', ''))", row) == "jose.dasilva"
    )
    assert evaluate("split(field('Cost Center'), '-', 1)", row) == "42"
    assert evaluate("'Mr' if first_name == 'José' else 'Ms'", row) == "Mr"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "Unknown function '__import__'."),
        ("__import__('os').system('id')", "Not allowed in an expression"),
        ("().__class__.__bases__[0].__subclasses__()", "Not allowed in an expression"),
        ("first_name.__class__", "Not allowed in an expression"),
        ("first_name.format", "Not allowed in an expression"),
        ("open('/etc/passwd')", "Unknown function 'open'."),
        ("eval('1')", "Unknown function 'eval'."),
        ("x = 1", "Not allowed in an expression"),
        ("'a' * 100000", "longer than 10000 characters"),
        ("9 ** 9 ** 9", "The expression cannot be evaluated"),
        ("nobody", "Unknown name 'nobody'"),
        ("1 +", "The expression is not valid"),
        ("'x' * 200 * 200", "longer than 10000 characters"),
    ],
)
def test_the_sandbox_refuses_escapes_with_clear_errors(expression, message):
    with pytest.raises(ExpressionError) as caught:
        evaluate(expression, {"first_name": "Ana"})
    assert message in str(caught.value)


@pytest.mark.django_db
def test_scheduled_profiles_start_once_per_due_minute(people, files, django_capture_on_commit_callbacks):
    write(files / "hr.csv", HR_HEADER + "E1,Ana,Souza,ana@corp.test,Sales,Rep\n")
    hr_profile(people["admin"], schedule="30 2 * * *")
    due = timezone.make_aware(datetime(2026, 12, 7, 2, 30, 5))
    assert runs_start_due(due.replace(hour=3)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_start_due(due) == 1
    assert runs_start_due(due) == 0  # already started this minute
    run = ReconciliationRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.source == "automatic" and run.requested_by is None

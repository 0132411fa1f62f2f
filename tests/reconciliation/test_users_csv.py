"""A users profile on an HR CSV export: joiners are created, a mover updated, a leaver
inactivated through the life cycle; Latin-1 files, duplicate keys and malformed rows are
reported per row and leave the rest of the run alone."""

from __future__ import annotations

import pytest

from directory.models import User, UserStatus
from reconciliation.models import ReconciliationLink, RunStatus
from reconciliation.services.runs import run_and_execute
from tests.reconciliation.conftest import HR_HEADER, hr_profile, write

pytestmark = pytest.mark.django_db


def first_run(people, files):
    write(files / "hr.csv", HR_HEADER + "E1,Ana,Souza,ana@corp.test,Sales,Rep\n"
          "E2,Bruno,Lima,bruno@corp.test,IT,Dev\nE3,Carla,Dias,carla@corp.test,HR,Partner\n")  # fmt: skip
    profile = hr_profile(people["admin"])
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    return profile, run


def test_first_run_links_everyone_and_changes_nobody(people, files):
    profile, run = first_run(people, files)
    assert run.status == RunStatus.SUCCEEDED
    assert run.situations == {"FOUND": 3}
    assert run.actions == {"NONE": 3} or run.actions.get("UPDATE", 0) <= 3
    assert ReconciliationLink.objects.filter(profile=profile).count() == 3


def test_joiners_mover_and_leaver(people, files):
    profile, _ = first_run(people, files)
    write(files / "hr.csv", HR_HEADER + "E1,Ana,Souza,ana@corp.test,Marketing,Rep\n"
          "E2,Bruno,Lima,bruno@corp.test,IT,Dev\n"
          "E4,José,Araújo,jose@corp.test,Finance,Analyst\nE5,Maria,Silva,maria@corp.test,Finance,Clerk\n")  # fmt: skip
    profile.safety_share = 50
    profile.save()
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.situations == {"FOUND": 2, "NOT_FOUND": 2, "MISSING": 1}
    assert run.actions == {"UPDATE": 1, "NONE": 1, "CREATE": 2, "INACTIVATE": 1}
    jose = User.objects.get(username="jose.araujo")
    assert jose.first_name == "José" and jose.attributes["employee_id"] == "E4"
    assert jose.created_source == "reconciliation"
    people["ana"].refresh_from_db()
    assert people["ana"].department == "Marketing"
    people["carla"].refresh_from_db()
    assert people["carla"].status == UserStatus.INACTIVE
    assert set(ReconciliationLink.objects.filter(profile=profile).values_list("key", flat=True)) == {
        "E1",
        "E2",
        "E4",
        "E5",
    }


def test_latin1_export_is_read(people, files):
    write(files / "hr.csv", HR_HEADER + "E7,João,Conceição,joao@corp.test,Vendas,Gerente\n", "latin-1")
    profile = hr_profile(people["admin"])
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.SUCCEEDED, run.error
    joao = User.objects.get(attributes__employee_id="E7")
    assert (joao.first_name, joao.last_name, joao.username) == ("João", "Conceição", "joao.conceicao")


def test_duplicate_keys_and_malformed_rows_are_row_errors(people, files):
    write(files / "hr.csv", HR_HEADER + "E1,Ana,Souza,ana@corp.test,Sales,Rep\n"
          "E8,Duda,Reis,duda@corp.test,IT,Dev\nE8,Duda,Reis,duda2@corp.test,IT,Dev\n"
          "E9,only,three\n,No,Key,nokey@corp.test,IT,Dev\nE10,Rui,Paz,rui@corp.test,IT,Dev\n")  # fmt: skip
    profile = hr_profile(people["admin"])
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.SUCCEEDED
    reasons = {(e.row, e.key): e.reason for e in run.row_errors.all()}
    assert reasons[(3, "E8")].startswith("Duplicate key") and reasons[(4, "E8")].startswith("Duplicate key")
    assert reasons[(5, "E9")] == "Expected 6 columns, found 3."
    assert reasons[(6, "")] == "No value in the key field 'employee_id'."
    assert run.errors == 4
    assert not User.objects.filter(attributes__employee_id="E8").exists()
    assert User.objects.filter(attributes__employee_id="E10").exists()


def test_too_many_row_errors_fail_the_run_and_change_nothing(people, files):
    write(files / "hr.csv", HR_HEADER + "E1,broken\nE2,broken\nE11,New,Person,new@corp.test,IT,Dev\n")
    profile = hr_profile(people["admin"], max_row_errors=1)
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.FAILED
    assert "2 malformed rows" in run.error
    assert not User.objects.filter(attributes__employee_id="E11").exists()
    assert run.row_errors.count() == 2


def test_missing_file_is_a_clear_run_error(people, files):
    profile = hr_profile(people["admin"])
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.FAILED
    assert run.error == "The file 'hr.csv' does not exist in the reconciliation folder."


def test_a_bad_mapping_expression_is_a_row_error(people, files):
    write(files / "hr.csv", HR_HEADER + "E12,Lia,Mota,lia@corp.test,IT,Dev\n")
    profile = hr_profile(people["admin"])
    profile.mappings.filter(target="username").update(value="left(first_name, 'x')")
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    error = run.row_errors.get()
    assert error.key == "E12" and error.reason.startswith(
        "mapping of username: The expression failed on this row"
    )
    assert not User.objects.filter(attributes__employee_id="E12").exists()


def test_incremental_runs_apply_only_the_rows_that_changed(people, files):
    write(
        files / "hr.csv",
        HR_HEADER + "E1,Ana,Souza,ana@corp.test,Sales,Rep\nE2,Bruno,Lima,bruno@corp.test,IT,Dev\n",
    )
    profile = hr_profile(people["admin"], incremental=True)
    first = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert first.full is False and first.status == RunStatus.SUCCEEDED
    assert profile.row_hashes.count() == 2
    User.objects.filter(pk=people["ana"].pk).update(department="Changed by hand")
    write(
        files / "hr.csv",
        HR_HEADER + "E1,Ana,Souza,ana@corp.test,Sales,Rep\nE2,Bruno,Lima,bruno@corp.test,Ops,Dev\n",
    )
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.actions == {"NONE": 1, "UPDATE": 1}  # only Bruno's row changed in the export
    people["ana"].refresh_from_db()
    people["bruno"].refresh_from_db()
    assert people["ana"].department == "Changed by hand" and people["bruno"].department == "Ops"
    full = run_and_execute(actor=people["admin"], source="console", profile=profile, full=True)
    assert full.full and full.actions == {"UPDATE": 1, "NONE": 1}
    people["ana"].refresh_from_db()
    assert people["ana"].department == "Sales"

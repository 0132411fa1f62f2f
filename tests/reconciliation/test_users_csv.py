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

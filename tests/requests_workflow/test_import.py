"""CSV import of requests: the file checks, the dry run (every refused line by number, nothing
written but the job), the run in both modes and the result file."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from blazon.errors import NotAllowed, TransitionNotAllowed, ValidationFailed
from directory.models import ConsoleRole, EntitlementMembership, User, UserStatus
from requests_workflow.models import (
    ImportJob,
    ImportMode,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
    Request,
    RequestStatus,
)
from requests_workflow.services.imports.results import import_result_rows
from requests_workflow.services.imports.run import import_dry_run, import_execute, import_run
from requests_workflow.services.requests import request_create
from tests.api.factories import AccountFactory, EntitlementMembershipFactory, UserFactory

HEADER = "type,beneficiary,resource,entitlement,role,account,justification,start_at,end_at"


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode("utf-8")


def grant(user: str, ent: str = "payments", why: str = "Month-end close") -> str:
    return f"GRANT_ENTITLEMENT,{user},erp,{ent},,,{why},,"


def dry_run(admin, data: bytes) -> ImportJob:
    return import_dry_run(actor=admin, file=data, file_name="requests.csv")


def errors_by_line(job: ImportJob) -> dict[int, str]:
    return {e["line"]: e["error"] for e in job.dry_run_errors}


def execute(admin, job: ImportJob, mode: str) -> ImportJob:
    import_run(actor=admin, job=job, mode=mode)
    return import_execute(job_id=job.pk)


# --- the file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"type,beneficary,entitlement\nGRANT_ENTITLEMENT,alice,payments\n", "bad_columns", "'beneficary'"),
        (b"beneficiary,entitlement\nalice,payments\n", "bad_columns", "no 'type' column"),
        (b"type,type\nLOCK_USER,LOCK_USER\n", "bad_columns", "appear twice"),
        ("type,beneficiary,justification\nLOCK_USER,José,Férias\n".encode("cp1252"), "bad_encoding", "UTF-8"),
        ("type,beneficiary\nLOCK_USER,alice\n".encode("utf-16"), "bad_encoding", "UTF-8"),
        (b"", "empty_file", "empty"),
        (b"\xef\xbb\xbf\n\n", "empty_file", "empty"),
        (b"type,beneficiary\n", "empty_file", "no requests"),
        (b'type,beneficiary\nLOCK_USER,"alice\n', "bad_csv", "not valid CSV"),
    ],
    ids=["misspelt", "no-type", "repeated", "cp1252", "utf-16", "empty", "bom-only", "header-only", "quote"],
)
def test_a_malformed_file_is_refused_with_a_clear_error_and_nothing_written(company, data, code, words):
    with pytest.raises(ValidationFailed) as exc:
        dry_run(company["admin"], data)
    assert exc.value.code == code
    assert words in exc.value.message
    assert not ImportJob.objects.exists()
    assert not Request.objects.exists()


def test_bad_encoding_names_the_line(company):
    data = "type,beneficiary,justification\nLOCK_USER,alice,ok\nLOCK_USER,eve,Férias\n".encode("cp1252")
    with pytest.raises(ValidationFailed, match="on line 3"):
        dry_run(company["admin"], data)


def test_utf8_with_bom_and_semicolons_are_read(company):
    data = "\ufefftype;beneficiary;resource;entitlement;justification\r\nGRANT_ENTITLEMENT;alice;erp;payments;Fechamento do mês\r\n"
    job = dry_run(company["admin"], data.encode("utf-8"))
    assert (job.status, job.row_count, job.ok_count, job.error_count) == (ImportStatus.VALIDATED, 1, 1, 0)
    assert job.types == ["GRANT_ENTITLEMENT"]


# --- the dry run ------------------------------------------------------------------------------


def test_dry_run_reports_every_bad_line_by_number_and_creates_nothing(company, db):
    removed = UserFactory(username="gone", status=UserStatus.REMOVED)
    app_account = AccountFactory(
        resource=company["app"], owner=None, responsible=company["owner"], identifier="svc"
    )
    data = csv_bytes(
        grant("alice"),  # 2 ok
        "DELETE_EVERYTHING,alice,,,,,,,",  # 3 unknown type
        "RESET_PASSWORD,alice,,,,,,,",  # 4 not from import
        "CHECKIN_APPLICATION_ACCOUNT,alice,erp,,,svc,,,",  # 5 not from import
        grant("nobody"),  # 6 unknown user
        grant("eve", why=""),  # 7 no justification
        "LOCK_USER,eve",  # 8 wrong number of values
        grant("alice"),  # 9 same as line 2
        grant(removed.username),  # 10 REMOVED
        grant("eve", ent="nope"),  # 11 unknown entitlement
        "",  # blank line: skipped
        "GRANT_ROLE,eve,,,accounting,,Audit,2020-01-01,2020-02-01",  # 13 period in the past
        "LOCK_USER,boss,,,,,,,",  # 14 ok
    )
    job = dry_run(company["admin"], data)
    errors = errors_by_line(job)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 13]
    assert "Unknown request type 'DELETE_EVERYTHING'" in errors[3]
    assert "RESET_PASSWORD requests cannot come from import" in errors[4]
    assert "CHECKIN_APPLICATION_ACCOUNT requests cannot come from import" in errors[5]
    assert "No user with the username 'nobody'" in errors[6]
    assert "GRANT_ENTITLEMENT requests need a justification" in errors[7]
    assert "2 values where the header has 9 columns" in errors[8]
    assert "Same request as line 2" in errors[9]
    assert "gone is REMOVED" in errors[10]
    assert "No entitlement 'nope' on resource 'erp'" in errors[11]
    assert "must be in the future" in errors[13]
    assert (job.row_count, job.ok_count, job.error_count) == (12, 2, 10)
    assert not Request.objects.exists()
    assert app_account.pk  # untouched


def test_dry_run_refuses_what_request_create_refuses_with_the_same_message(company, run):
    alice, eve, admin = company["alice"], company["eve"], company["admin"]
    account = AccountFactory(resource=company["app"], owner=alice, identifier="alice")
    EntitlementMembershipFactory(account=account, entitlement=company["ent"])
    run(
        request_create,
        actor=admin,
        source="console",
        request_type="LOCK_USER",
        beneficiary=eve,
    )  # eve is now locked
    pending = request_create(
        actor=admin,
        source="import",
        request_type="GRANT_ROLE",
        beneficiary=eve,
        role=company["role"],
        justification="x",
    )
    job = dry_run(
        admin,
        csv_bytes(grant("alice"), "LOCK_USER,eve,,,,,,,", "GRANT_ROLE,eve,,,accounting,,Again,,"),
    )
    errors = errors_by_line(job)
    for line, kwargs in (
        (
            2,
            {
                "request_type": "GRANT_ENTITLEMENT",
                "beneficiary": alice,
                "entitlement": company["ent"],
                "justification": "y",
            },
        ),
        (3, {"request_type": "LOCK_USER", "beneficiary": User.objects.get(pk=eve.pk)}),
    ):
        with pytest.raises(ValidationFailed) as exc:
            request_create(actor=admin, source="import", **kwargs)
        assert errors[line] == exc.value.message
    assert "already pending" in errors[4]
    assert set(Request.objects.values_list("pk", flat=True)) == {
        pending.pk,
        Request.objects.get(type="LOCK_USER").pk,
    }


def test_dry_run_queries_do_not_grow_with_the_lines(company, db):
    users = User.objects.bulk_create(
        [User(username=f"bulk{i:04d}", first_name="B", last_name=str(i)) for i in range(200)]
    )

    def count(n: int) -> int:
        lines = [grant(u.username) for u in users[:n]] + [
            "GRANT_ROLE,alice,,,accounting,,Team,,",
            "LOCK_USER,eve,,,,,,,",
        ]
        with CaptureQueriesContext(connection) as ctx:
            dry_run(company["admin"], csv_bytes(*lines))
        return len(ctx.captured_queries)

    count(1)  # the first audit event creates the audit chain's head row
    small, large = count(10), count(200)
    assert large == small
    assert large <= 20


def test_payload_columns_build_new_user_and_update_user_requests(company, run):
    header = HEADER + ",user.username,user.first_name,user.last_name,user.email,changes.department"
    data = csv_bytes(
        "CREATE_USER,,,,,,New hire,,,jdoe,John,Doe,jdoe@example.com,",
        "UPDATE_USER,alice,,,,,,,,,,,,Finance",
        "CREATE_USER,,,,,,New hire,,,nolast,No,,,",
        "LOCK_USER,eve,,,,,,,,,,,,Finance",
        "CREATE_USER,,,,,,,,,,,,,",
        header=header,
    )
    job = dry_run(company["admin"], data)
    errors = errors_by_line(job)
    assert sorted(errors) == [4, 5, 6]
    assert "payload.user.last_name: This field is required" in errors[4]
    assert "changes.department are not used by LOCK_USER" in errors[5] or "changes.department" in errors[5]
    assert "CREATE_USER needs 'user'" in errors[6]
    job = execute(company["admin"], job, ImportMode.BEST_EFFORT)
    created = {r.type: r for r in Request.objects.filter(source="import")}
    assert created["CREATE_USER"].payload == {
        "user": {"username": "jdoe", "first_name": "John", "last_name": "Doe", "email": "jdoe@example.com"}
    }
    assert created["UPDATE_USER"].payload == {"changes": {"department": "Finance"}}


def test_a_password_column_is_refused_per_line(company, db):
    header = HEADER + ",user.username,user.first_name,user.last_name,user.password"
    job = dry_run(company["admin"], csv_bytes("CREATE_USER,,,,,,,,,jdoe,John,Doe,hunter2", header=header))
    assert "never carries secrets; remove user.password" in errors_by_line(job)[2]


# --- the run ----------------------------------------------------------------------------------


@pytest.fixture
def ten_thousand(company) -> tuple[bytes, int]:
    """10,000 GRANT_ENTITLEMENT lines for 10,000 users; line 5,001 names a user who does not exist."""
    User.objects.bulk_create(
        [User(username=f"emp{i:05d}", first_name="E", last_name=str(i)) for i in range(10_000)]
    )
    lines = [grant(f"emp{i:05d}") for i in range(10_000)]
    lines[4_999] = grant("emp-missing")
    return csv_bytes(*lines), 5_001


def test_ten_thousand_lines_one_bad_best_effort_creates_the_others(company, ten_thousand):
    data, bad_line = ten_thousand
    job = dry_run(company["admin"], data)
    assert job.row_count == 10_000
    assert job.dry_run_errors == [{"line": bad_line, "error": "No user with the username 'emp-missing'."}]
    assert not Request.objects.exists()

    job = execute(company["admin"], job, ImportMode.BEST_EFFORT)
    assert (job.status, job.ok_count, job.error_count, job.processed) == (ImportStatus.DONE, 9_999, 1, 10_000)
    assert Request.objects.filter(source="import", type="GRANT_ENTITLEMENT").count() == 9_999
    refused = ImportRow.objects.get(job=job, status=ImportRowStatus.ERROR)
    assert refused.line == bad_line
    assert (
        ImportRow.objects.filter(job=job, status=ImportRowStatus.CREATED, request__isnull=False).count()
        == 9_999
    )


def test_ten_thousand_lines_one_bad_all_or_nothing_creates_none(company, ten_thousand):
    data, bad_line = ten_thousand
    job = dry_run(company["admin"], data)
    job = execute(company["admin"], job, ImportMode.ALL_OR_NOTHING)
    assert job.status == ImportStatus.FAILED
    assert "no request was created" in job.failure_reason
    assert not Request.objects.exists()
    assert (job.ok_count, job.error_count) == (0, 1)
    assert ImportRow.objects.get(job=job, status=ImportRowStatus.ERROR).line == bad_line
    assert ImportRow.objects.filter(job=job, status=ImportRowStatus.NOT_CREATED).count() == 9_999


def test_all_or_nothing_rolls_back_when_the_directory_changed_since_the_dry_run(company, db):
    job = dry_run(company["admin"], csv_bytes(grant("alice"), grant("eve")))
    assert job.error_count == 0
    User.objects.filter(username="eve").update(status=UserStatus.REMOVED)
    job = execute(company["admin"], job, ImportMode.ALL_OR_NOTHING)
    assert job.status == ImportStatus.FAILED
    assert not Request.objects.exists()
    assert list(ImportRow.objects.filter(job=job).values_list("line", "status")) == [
        (2, ImportRowStatus.NOT_CREATED),
        (3, ImportRowStatus.ERROR),
    ]


def test_a_clean_file_runs_through_the_pipeline_and_the_result_file_says_so(
    company, run, django_capture_on_commit_callbacks
):
    admin = company["admin"]
    job = dry_run(
        admin, csv_bytes(grant("alice"), "GRANT_ROLE,eve,,,accounting,,Team,,", "LOCK_USER,boss,,,,,,,")
    )
    with django_capture_on_commit_callbacks(execute=True):
        import_run(actor=admin, job=job, mode=ImportMode.ALL_OR_NOTHING)  # the task runs on commit
    job.refresh_from_db()
    assert (job.status, job.ok_count, job.error_count, job.processed) == (ImportStatus.DONE, 3, 0, 3)
    requests = Request.objects.filter(source="import").order_by("id")
    assert [r.type for r in requests] == ["GRANT_ENTITLEMENT", "GRANT_ROLE", "LOCK_USER"]
    assert all(r.requester_id == admin.pk for r in requests)
    assert {r.status for r in requests} <= {RequestStatus.FINISHED, RequestStatus.WAITING_PROVISIONING}
    assert EntitlementMembership.objects.filter(
        account__owner=company["alice"], entitlement=company["ent"]
    ).exists()
    assert User.objects.get(username="boss").login_locked

    result = list(import_result_rows(job))
    assert result[0] == ["line", "status", "request_id", "request_status", "error"]
    assert [(r[0], r[1], r[2]) for r in result[1:]] == [
        ("2", "CREATED", str(requests[0].pk)),
        ("3", "CREATED", str(requests[1].pk)),
        ("4", "CREATED", str(requests[2].pk)),
    ]
    assert result[3][3] == "FINISHED"


def test_result_file_cells_never_start_a_formula(company, db):
    job = dry_run(company["admin"], csv_bytes("LOCK_USER,eve,,,,,,,"))
    ImportRow.objects.create(
        job=job, line=2, status=ImportRowStatus.ERROR, error='=HYPERLINK("http://evil","x")'
    )
    ImportRow.objects.create(job=job, line=3, status=ImportRowStatus.ERROR, error="@SUM(1)")
    out = io.StringIO()
    csv.writer(out).writerows(import_result_rows(job))
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[1][4] == '\'=HYPERLINK("http://evil","x")'
    assert rows[2][4] == "'@SUM(1)"


def test_best_effort_reports_lines_refused_at_run_time(company, db):
    job = dry_run(company["admin"], csv_bytes(grant("alice"), grant("eve")))
    User.objects.filter(username="alice").update(status=UserStatus.REMOVED)
    job = execute(company["admin"], job, ImportMode.BEST_EFFORT)
    assert (job.status, job.ok_count, job.error_count) == (ImportStatus.DONE, 1, 1)
    assert "alice is REMOVED" in ImportRow.objects.get(job=job, line=2).error
    assert Request.objects.get().beneficiary.username == "eve"


def test_a_job_runs_once_and_the_task_is_safe_to_run_twice(company, db):
    job = dry_run(company["admin"], csv_bytes(grant("alice")))
    job = execute(company["admin"], job, ImportMode.BEST_EFFORT)
    with pytest.raises(TransitionNotAllowed):
        import_run(actor=company["admin"], job=job, mode=ImportMode.BEST_EFFORT)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)  # a redelivered task
    import_execute(job_id=job.pk)
    assert Request.objects.count() == 1
    assert ImportRow.objects.filter(job=job).count() == 1


def test_unknown_mode_is_refused(company, db):
    job = dry_run(company["admin"], csv_bytes(grant("alice")))
    with pytest.raises(ValidationFailed, match="Unknown mode"):
        import_run(actor=company["admin"], job=job, mode="SOMETIMES")
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.VALIDATED


@pytest.mark.parametrize("role", [ConsoleRole.AUDITOR, ""])
def test_only_user_managers_may_import(company, role):
    user = UserFactory(username="reader", console_role=role)
    with pytest.raises(NotAllowed):
        dry_run(user, csv_bytes(grant("alice")))
    job = dry_run(company["admin"], csv_bytes(grant("alice")))
    with pytest.raises(NotAllowed):
        import_run(actor=user, job=job, mode=ImportMode.BEST_EFFORT)
    assert not Request.objects.exists()


def test_helpdesk_may_import(company, db):
    helpdesk = UserFactory(username="desk", console_role=ConsoleRole.HELPDESK)
    job = execute(helpdesk, dry_run(helpdesk, csv_bytes("LOCK_USER,eve,,,,,,,")), ImportMode.BEST_EFFORT)
    assert job.ok_count == 1
    assert Request.objects.get().requester == helpdesk


def test_imported_requests_have_the_timeline_and_audit_of_request_create(company, db):
    from blazon.audit.models import AuditEvent

    job = execute(
        company["admin"], dry_run(company["admin"], csv_bytes(grant("alice"))), ImportMode.BEST_EFFORT
    )
    req = Request.objects.get()
    assert (req.status, req.stage, req.source, req.requester) == ("NEW", 2, "import", company["admin"])
    assert list(req.events.values_list("stage", "to_status", "message")) == [
        (1, "NEW", "Created from import."),
        (2, "", "Validation policies passed."),
    ]
    event = AuditEvent.objects.get(action="request.created", object_id=str(req.pk))
    assert (event.actor_id, event.source, event.subject_user_id) == (
        company["admin"].pk,
        "import",
        company["alice"].pk,
    )
    assert event.new_values["entitlement"] == str(company["ent"])
    assert job.ok_count == 1


def test_a_request_made_meanwhile_is_reported_not_duplicated(company, db, monkeypatch):
    from requests_workflow.services.imports import run

    job = dry_run(company["admin"], csv_bytes(grant("alice"), grant("eve")))
    validate = run._validate_lines

    def validate_then_race(lines, actor):
        result = validate(lines, actor)
        request_create(  # another administrator, between the checks and the insert
            actor=company["admin"],
            source="api",
            request_type="GRANT_ENTITLEMENT",
            beneficiary=company["eve"],
            entitlement=company["ent"],
            justification="Faster",
        )
        return result

    monkeypatch.setattr(run, "_validate_lines", validate_then_race)
    job = execute(company["admin"], job, ImportMode.BEST_EFFORT)
    assert (job.ok_count, job.error_count) == (1, 1)
    assert "already pending" in ImportRow.objects.get(job=job, line=3).error
    assert Request.objects.filter(beneficiary=company["eve"]).count() == 1

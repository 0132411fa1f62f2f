"""Console import pages: upload → dry-run report → run → progress → result file; who may use
them, CSRF, and what the page shows of a hostile file."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from directory.models import ConsoleRole
from requests_workflow.models import ImportJob, ImportStatus, Request
from tests.api.factories import UserFactory
from tests.requests_workflow.test_import import csv_bytes, grant

LIST = reverse("console_imports:list")


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def upload(client: Client, data: bytes, name: str = "requests.csv"):
    return client.post(LIST, {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


@pytest.fixture
def admin(company) -> Client:
    return logged_in(company["admin"])


def test_upload_check_run_and_download(company, admin, django_capture_on_commit_callbacks):
    response = upload(admin, csv_bytes(grant("alice"), grant("nobody"), "LOCK_USER,eve,,,,,,,"))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "console_imports:detail", args=[job.pk]
    )

    page = admin.get(response["Location"]).content.decode()
    assert "2 lines can be imported" in page and "1 line refused" in page
    assert '<td class="num">3</td><td>No user with the username &#x27;nobody&#x27;.</td>' in page
    assert "Run the import" in page
    assert not Request.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("console_imports:run", args=[job.pk]), {"mode": "BEST_EFFORT"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.ok_count, job.error_count) == (ImportStatus.DONE, 2, 1)

    progress = admin.get(reverse("console_imports:progress", args=[job.pk]))
    assert progress.status_code == 286  # htmx stops polling
    assert 'aria-valuenow="100"' in progress.content.decode()
    assert "2 requests created" in progress.content.decode()

    result = admin.get(reverse("console_imports:result", args=[job.pk]))
    assert result["Content-Type"].startswith("text/csv")
    assert f"import-{job.pk}-result.csv" in result["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(result.streaming_content).decode())))
    created = Request.objects.order_by("id")
    assert rows[0] == ["line", "status", "request_id", "request_status", "error"]
    assert [r[:3] for r in rows[1:]] == [
        ["2", "CREATED", str(created[0].pk)],
        ["3", "ERROR", ""],
        ["4", "CREATED", str(created[1].pk)],
    ]
    assert rows[2][4] == "No user with the username 'nobody'."


def test_running_page_polls_progress(company, admin):
    upload(admin, csv_bytes("LOCK_USER,eve,,,,,,,"))
    job = ImportJob.objects.get()
    admin.post(reverse("console_imports:run", args=[job.pk]), {"mode": "ALL_OR_NOTHING"})  # task not run yet
    page = admin.get(reverse("console_imports:detail", args=[job.pk])).content.decode()
    assert f'hx-get="{reverse("console_imports:progress", args=[job.pk])}"' in page
    assert admin.get(reverse("console_imports:progress", args=[job.pk])).status_code == 200
    response = admin.get(reverse("console_imports:result", args=[job.pk]))
    assert response.status_code == 302  # no result file before the run
    again = admin.post(reverse("console_imports:run", args=[job.pk]), {"mode": "BEST_EFFORT"}, follow=True)
    assert "already been run" in again.content.decode()


def test_a_malformed_file_shows_the_reason_and_creates_no_job(company, admin):
    response = upload(admin, "type,beneficiary\nLOCK_USER,José\n".encode("cp1252"))
    assert response.status_code == 400
    assert "not UTF-8 text" in response.content.decode()
    response = upload(admin, b"type,colour\nLOCK_USER,blue\n")
    assert response.status_code == 400 and "Unknown column &#x27;colour&#x27;" in response.content.decode()
    response = upload(admin, b"")
    assert response.status_code == 400
    assert not ImportJob.objects.exists()


def test_file_content_is_escaped_on_the_report(company, admin):
    upload(admin, csv_bytes(grant("<script>alert(1)</script>")))
    page = admin.get(reverse("console_imports:detail", args=[ImportJob.objects.get().pk])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("role", [ConsoleRole.AUDITOR, ""])
def test_auditors_and_plain_users_are_refused(company, admin, role):
    upload(admin, csv_bytes("LOCK_USER,eve,,,,,,,"))
    job = ImportJob.objects.get()
    client = logged_in(UserFactory(username="reader", console_role=role))
    assert client.get(LIST).status_code == 403
    assert upload(client, csv_bytes("LOCK_USER,boss,,,,,,,")).status_code == 403
    for name in ("detail", "progress", "result"):
        assert client.get(reverse(f"console_imports:{name}", args=[job.pk])).status_code == 403
    assert (
        client.post(reverse("console_imports:run", args=[job.pk]), {"mode": "BEST_EFFORT"}).status_code == 403
    )
    assert ImportJob.objects.get().status == ImportStatus.VALIDATED
    assert ImportJob.objects.count() == 1


def test_helpdesk_may_upload(company):
    client = logged_in(UserFactory(username="desk", console_role=ConsoleRole.HELPDESK))
    assert client.get(LIST).status_code == 200
    assert upload(client, csv_bytes("LOCK_USER,eve,,,,,,,")).status_code == 302


def test_anonymous_goes_to_login(db):
    response = Client().get(LIST)
    assert response.status_code == 302 and "login" in response["Location"]


def test_upload_and_run_need_the_csrf_token(company):
    client = logged_in(company["admin"], enforce_csrf_checks=True)
    assert upload(client, csv_bytes("LOCK_USER,eve,,,,,,,")).status_code == 403
    assert not ImportJob.objects.exists()
    upload(logged_in(company["admin"]), csv_bytes("LOCK_USER,eve,,,,,,,"))
    job = ImportJob.objects.get()
    assert (
        client.post(reverse("console_imports:run", args=[job.pk]), {"mode": "BEST_EFFORT"}).status_code == 403
    )
    assert ImportJob.objects.get().status == ImportStatus.VALIDATED


def test_the_console_menu_offers_import_to_those_who_may_use_it(company, admin):
    link = f'href="{LIST}"'
    assert link in admin.get(reverse("console_requests:list")).content.decode()
    desk = logged_in(UserFactory(username="desk2", console_role=ConsoleRole.HELPDESK))
    assert link in desk.get(reverse("console_requests:list")).content.decode()
    auditor = logged_in(UserFactory(username="aud2", console_role=ConsoleRole.AUDITOR))
    page = auditor.get(reverse("console_requests:list"))
    assert page.status_code == 200 and link not in page.content.decode()

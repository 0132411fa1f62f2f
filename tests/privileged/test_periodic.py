"""The end of windows runs without anyone: the beat task in production, the stuck-work sweep in the
embedded mode; and the lists answer in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from blazon.outbox.services import stuck_work, work_sweep
from privileged.models import AccessRequest, AccessStatus
from privileged.services.flow import access_request_create
from privileged.tasks import expire_access_windows
from tests.api.helpers import client_for
from tests.privileged.conftest import window


def pending(pam, who="dba1", account="postgres"):
    return access_request_create(
        actor=pam[who],
        source="workspace",
        account=pam[account],
        reason="r",
        governance_code="C-1",
        **window(),
    )


def test_the_beat_task_ends_windows_that_are_over(pam):
    req = pending(pam)
    assert expire_access_windows.apply().get() == 0
    AccessRequest.objects.filter(pk=req.pk).update(
        window_start=timezone.now() - timedelta(hours=2), window_end=timezone.now() - timedelta(hours=1)
    )
    assert expire_access_windows.apply().get() == 1
    req.refresh_from_db()
    assert req.status == AccessStatus.EXPIRED


def test_the_embedded_sweep_ends_them_too_and_counts_the_late_ones(pam):
    req = pending(pam)
    AccessRequest.objects.filter(pk=req.pk).update(
        window_start=timezone.now() - timedelta(hours=2), window_end=timezone.now() - timedelta(hours=1)
    )
    late = {w.name: w.count for w in stuck_work()}
    assert late["privileged.windows"] == 1
    assert work_sweep()["privileged.windows"] == 1
    req.refresh_from_db()
    assert req.status == AccessStatus.EXPIRED


def test_list_endpoints_do_not_grow_with_rows(pam, django_assert_max_num_queries):
    admin = client_for(pam["admin"])
    pending(pam)
    with django_assert_max_num_queries(20) as few:
        assert admin.get("/api/v1/access-requests/").status_code == 200
        assert admin.get("/api/v1/access-groups/").status_code == 200
    n = len(few.captured_queries)
    pending(pam, who="dba2")
    pending(pam, account="shared")
    for code in ("g2", "g3"):
        admin.post(
            "/api/v1/access-groups/",
            {"code": code, "name": code, "members": ["user:dba1"], "credentials": ["proddb/postgres"],
             "levels": [{"approver_kind": "USERS", "users": ["approver1"]}]},
            format="json",
        )  # fmt: skip
    with django_assert_max_num_queries(n):
        admin.get("/api/v1/access-requests/")
        admin.get("/api/v1/access-groups/")

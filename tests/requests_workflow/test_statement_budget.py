"""The statement budget of the B5 path (issue #3): a GRANT_ENTITLEMENT needing no approval, from
the API call to FINISHED. Counts are behaviour, not timing: a query added to this path (an N+1,
a re-read, a per-event audit head update) fails here before it shows in the benchmark.

Counted inside the test transaction, so each outermost ``atomic`` of production (BEGIN/COMMIT,
not counted) shows as one SAVEPOINT + RELEASE pair here. Production per request: 11 statements
in the API call (the last one writes the pipeline's outbox row), 16 in the ``process_request``
handler (the outcome mail's outbox row and the SoD rules' look-up included; it was 19 + 31
before the lean pass), plus 5
for the outbox delivery around it (claim, row lock, done, and the handler's savepoint pair).
"""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditChainHead, AuditEvent
from blazon.audit.services import audit_verify
from directory.models import Account, ConsoleRole, EntitlementMembership, Resource, default_provisioning_modes
from requests_workflow.models import Request, RequestEvent, RequestStatus
from requests_workflow.services.pipeline import request_process
from requests_workflow.services.requests import request_create
from tests.api.factories import EntitlementFactory, UserFactory
from tests.api.helpers import client_for

pytestmark = pytest.mark.django_db

API_BUDGET = 13  # 11 in production + the test transaction's savepoint pair
# 16 in production (the SoD stage reads the active rules' items: one query, since issue 15) +
# the savepoint pair
PIPELINE_BUDGET = 18
DELIVERY_BUDGET = PIPELINE_BUDGET + 5  # claim UPDATE, row lock, done UPDATE, savepoint pair
#: the on-commit callback of an outbox row (``blazon.outbox.services.outbox_write``)
OUTBOX = "outbox_write.<locals>.<lambda>"


@pytest.fixture
def b5(db):
    """The B5 set-up in small: a resource that does not provision, a user with an account."""
    res = Resource.objects.create(code="b5", name="B5", provisioning_modes=default_provisioning_modes())
    ents = [EntitlementFactory(resource=res) for _ in range(2)]
    user = UserFactory(username="b5user")
    Account.objects.create(resource=res, owner=user, identifier="b5user")
    admin = UserFactory(username="b5admin", console_role=ConsoleRole.ADMINISTRATOR)
    AuditChainHead.objects.get_or_create(pk=1)  # the chain's head row exists in any live system
    return {"user": user, "ents": ents, "admin": admin}


def _finished(req_id: int) -> Request:
    req = Request.objects.get(pk=req_id)
    assert req.status == RequestStatus.FINISHED
    assert list(req.events.order_by("id").values_list("stage", "to_status", "message")) == [
        (1, "NEW", "Created from api."),
        (2, "", "Validation policies passed."),
        (3, "", "No approval policy matched: no approval needed."),
        (3, "", "SoD check: no SoD policy matched."),
        (3, "APPROVED", "Approved."),
        (4, "", "Applied to the directory."),
        (5, "FINISHED", "Finished (nothing to provision)."),
    ]
    return req


def test_api_call_to_finished_stays_within_budget(
    b5, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    client = client_for(b5["admin"])
    body = {"type": "GRANT_ENTITLEMENT", "beneficiary": b5["user"].pk, "justification": "B5"}
    with django_capture_on_commit_callbacks(execute=True):  # warm up (first audit head row, caches)
        client.post("/api/v1/requests/", {**body, "entitlement": b5["ents"][0].pk}, format="json")
    audit_before = AuditEvent.objects.count()

    with django_assert_max_num_queries(API_BUDGET), django_capture_on_commit_callbacks() as queued:
        response = client.post("/api/v1/requests/", {**body, "entitlement": b5["ents"][1].pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "NEW" and len(response.json()["events"]) == 2
    # the request's own transaction writes the pipeline's outbox row and nothing else
    assert [cb.__qualname__ for cb in queued] == [OUTBOX]

    with django_assert_max_num_queries(DELIVERY_BUDGET), django_capture_on_commit_callbacks() as after:
        queued[0]()  # the outbox delivers process_request, eagerly (no broker in tests)
    req = _finished(response.json()["id"])
    # the outcome mail is only enqueued (plus audit_batch's no-op savepoint markers, if any)
    sends = [cb for cb in after if cb.__qualname__ == OUTBOX]
    assert len(sends) == 1
    assert EntitlementMembership.objects.filter(account__owner=b5["user"], entitlement=b5["ents"][1]).exists()
    actions = list(
        AuditEvent.objects.filter(seq__gt=audit_before).order_by("seq").values_list("action", flat=True)
    )
    assert actions == [
        "request.created",
        "request.approved",
        "membership.granted",
        "request.applied",
        "request.finished",
    ]
    assert req.finished_at is not None and req.applied_at is not None
    assert audit_verify().ok


def test_services_stay_within_budget(b5, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    user, ent = b5["user"], b5["ents"][0]
    with django_assert_max_num_queries(API_BUDGET - 3):  # no token, no look-up of the two references
        with django_capture_on_commit_callbacks():
            req = request_create(
                actor=b5["admin"],
                source="api",
                request_type="GRANT_ENTITLEMENT",
                beneficiary=user,
                entitlement=ent,
                justification="B5",
            )
    with django_assert_max_num_queries(PIPELINE_BUDGET), django_capture_on_commit_callbacks():
        request_process(request_id=req.pk)
    assert Request.objects.get(pk=req.pk).status == RequestStatus.FINISHED
    assert RequestEvent.objects.filter(request=req).count() == 7


def test_no_outcome_mail_task_when_nobody_has_an_address(b5, django_capture_on_commit_callbacks):
    """Requester and beneficiary are loaded by the pipeline: when neither has an e-mail address
    the outcome task (which would send nothing) is not queued; with an address it is."""
    for user in (b5["admin"], b5["user"]):
        user.email = ""
        user.save(update_fields=["email"])
    with django_capture_on_commit_callbacks():
        req = request_create(
            actor=b5["admin"],
            source="api",
            request_type="GRANT_ENTITLEMENT",
            beneficiary=b5["user"],
            entitlement=b5["ents"][0],
            justification="B5",
        )
    with django_capture_on_commit_callbacks() as after:
        request_process(request_id=req.pk)
    assert not [cb for cb in after if cb.__qualname__ == OUTBOX]
    assert Request.objects.get(pk=req.pk).status == RequestStatus.FINISHED

    b5["user"].email = "b5user@example.com"
    b5["user"].save(update_fields=["email"])
    with django_capture_on_commit_callbacks():
        req = request_create(
            actor=b5["admin"],
            source="api",
            request_type="GRANT_ENTITLEMENT",
            beneficiary=b5["user"],
            entitlement=b5["ents"][1],
            justification="B5",
        )
    with django_capture_on_commit_callbacks() as after:
        request_process(request_id=req.pk)
    assert len([cb for cb in after if cb.__qualname__ == OUTBOX]) == 1

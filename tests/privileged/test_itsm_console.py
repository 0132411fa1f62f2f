"""The console's ITSM instances page: every console role reads it, administrators create, edit and
delete; the password or tokens are write-only; an instance a group uses cannot be deleted."""

from __future__ import annotations

from django.test import Client

from blazon.audit.models import AuditEvent
from privileged.models import ItsmInstance
from privileged.services.groups import access_group_update
from privileged.services.itsm import itsm_instance_create
from vault.models import Secret
from vault.services import secret_reveal

NEW = {
    "name": "GLPI",
    "kind": "GLPI",
    "base_url": "https://glpi.acme.test/apirest.php",
    "secret_value": "user-token-1",
    "app_secret_value": "app-token-1",
    "valid_states": "1, 2, 3,4",
    "timeout_seconds": "5",
}


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def instance(pam, name="ServiceNow") -> ItsmInstance:
    return itsm_instance_create(
        actor=pam["admin"], source="console", name=name, kind="SERVICENOW",
        base_url="https://acme.service-now.com", username="blazon", secret_value="sn-pass",
        valid_states=["1", "2"],
    )  # fmt: skip


def test_every_console_role_reads_and_only_administrators_change(pam):
    sn = instance(pam)
    for who in ("admin", "helpdesk", "auditor"):
        page = login(pam[who]).get("/console/privileged/itsm-instances/")
        assert page.status_code == 200, who
        assert b"ServiceNow" in page.content and b"sn-pass" not in page.content
    assert (
        b"acme.service-now.com"
        not in login(pam["admin"]).get("/console/privileged/itsm-instances/?kind=JIRA").content
    )
    denied = [
        ("get", "/console/privileged/itsm-instances/"),
        ("get", "/console/privileged/itsm-instances/new/"),
        ("post", "/console/privileged/itsm-instances/new/"),
        ("post", f"/console/privileged/itsm-instances/{sn.pk}/edit/"),
        ("post", f"/console/privileged/itsm-instances/{sn.pk}/delete/"),
    ]
    for method, url in denied:
        assert getattr(login(pam["dba1"]), method)(url, NEW).status_code == 403, url
    for who in ("helpdesk", "auditor"):
        for method, url in denied[1:]:
            assert getattr(login(pam[who]), method)(url, NEW).status_code == 403, (who, url)
    assert ItsmInstance.objects.count() == 1
    assert ItsmInstance.objects.get().name == "ServiceNow"


def test_an_administrator_creates_and_edits_an_instance_the_tokens_going_to_the_vault(pam):
    client = login(pam["admin"])
    form = client.get("/console/privileged/itsm-instances/new/")
    assert form.status_code == 200 and b'type="password"' in form.content
    response = client.post("/console/privileged/itsm-instances/new/", NEW)
    assert response.status_code == 302, response.content
    glpi = ItsmInstance.objects.get(name="GLPI")
    assert glpi.valid_states == ["1", "2", "3", "4"]
    assert secret_reveal(actor=None, source="automatic", secret=glpi.secret) == "user-token-1"
    assert secret_reveal(actor=None, source="automatic", secret=glpi.app_secret) == "app-token-1"
    edit = client.get(f"/console/privileged/itsm-instances/{glpi.pk}/edit/")
    assert b"user-token-1" not in edit.content and b"app-token-1" not in edit.content
    assert b"1, 2, 3, 4" in edit.content
    # saved without tokens: the vault keeps them
    kept = {**NEW, "secret_value": "", "app_secret_value": "", "timeout_seconds": "9"}
    assert client.post(f"/console/privileged/itsm-instances/{glpi.pk}/edit/", kept).status_code == 302
    glpi.refresh_from_db()
    assert glpi.timeout_seconds == 9
    assert secret_reveal(actor=None, source="automatic", secret=glpi.secret) == "user-token-1"
    # a new user token replaces the vault's
    client.post(
        f"/console/privileged/itsm-instances/{glpi.pk}/edit/", {**kept, "secret_value": "user-token-2"}
    )
    glpi.refresh_from_db()
    assert secret_reveal(actor=None, source="automatic", secret=glpi.secret) == "user-token-2"
    updated = AuditEvent.objects.filter(action="privileged.itsm.updated").order_by("seq").last()
    assert set(updated.new_values) == {"secret_changed"}
    assert "user-token" not in str(list(AuditEvent.objects.values_list("new_values", "old_values")))


def test_bad_input_comes_back_on_the_form_and_nothing_is_saved(pam):
    client = login(pam["admin"])
    for bad, words in (
        ({"kind": "JIRA", "base_url": ""}, b"atlassian.net"),
        ({"valid_states": " , "}, b"Name the states"),
        ({"timeout_seconds": "0"}, b"greater than or equal to 1"),
        ({"kind": "REST", "url_template": "https://x/tickets", "status_pointer": "/s"}, b"{code}"),
    ):
        response = client.post("/console/privileged/itsm-instances/new/", {**NEW, **bad})
        assert response.status_code == 200 and words in response.content, bad
    assert not ItsmInstance.objects.exists() and not Secret.objects.filter(name__startswith="ITSM").exists()


def test_an_instance_a_group_uses_cannot_be_deleted(pam):
    sn = instance(pam)
    access_group_update(actor=pam["admin"], source="console", group=pam["group"], data={"itsm": sn})
    client = login(pam["admin"])
    page = client.get(f"/console/privileged/itsm-instances/{sn.pk}/delete/")
    assert page.status_code == 200 and b"prod-dba" in page.content
    client.post(f"/console/privileged/itsm-instances/{sn.pk}/delete/")
    assert ItsmInstance.objects.filter(pk=sn.pk).exists()
    access_group_update(actor=pam["admin"], source="console", group=pam["group"], data={"itsm": None})
    secret_id = sn.secret_id
    assert client.post(f"/console/privileged/itsm-instances/{sn.pk}/delete/").status_code == 302
    assert not ItsmInstance.objects.filter(pk=sn.pk).exists()
    assert not Secret.objects.filter(pk=secret_id).exists()
    assert AuditEvent.objects.filter(action="privileged.itsm.deleted").exists()

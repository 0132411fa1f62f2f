"""The personal vault in the workspace: store, list (names only), reveal after re-entering the
password, edit, delete; another user sees nothing of it."""

from __future__ import annotations

from django.test import Client

from blazon.audit.models import AuditEvent
from vault.models import Secret, SecretKind
from vault.services import checkout_open


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_store_reveal_after_reauthentication_edit_delete(pam):
    user = pam["dba1"]
    user.set_password("correct horse battery")
    user.save()
    client = login(user)
    assert (
        client.post(
            "/workspace/privileged/vault/new/", {"name": "Router", "value": "s3cr3t-value"}
        ).status_code
        == 302
    )
    secret = Secret.objects.get(owner=user, kind=SecretKind.PERSONAL)
    page = client.get("/workspace/privileged/vault/")
    assert b"Router" in page.content and b"s3cr3t-value" not in page.content
    # locked: no value
    locked = client.post(f"/workspace/privileged/vault/{secret.pk}/reveal/", follow=True)
    assert b"s3cr3t-value" not in locked.content and b"Confirm your password" in locked.content
    # a wrong password keeps it locked (and is audited)
    client.post("/workspace/privileged/vault/unlock/", {"password": "nope"})
    assert (
        b"s3cr3t-value"
        not in client.post(f"/workspace/privileged/vault/{secret.pk}/reveal/", follow=True).content
    )
    assert AuditEvent.objects.filter(action="vault.reauth_failed", actor_id=user.pk).exists()
    client.post("/workspace/privileged/vault/unlock/", {"password": "correct horse battery"})
    shown = client.post(f"/workspace/privileged/vault/{secret.pk}/reveal/")
    assert shown.status_code == 200 and b"s3cr3t-value" in shown.content
    assert AuditEvent.objects.filter(action="vault.secret.revealed", actor_id=user.pk).exists()
    # someone else: nothing
    other = login(pam["dba2"])
    assert other.post(f"/workspace/privileged/vault/{secret.pk}/reveal/").status_code == 404
    assert other.get(f"/workspace/privileged/vault/{secret.pk}/edit/").status_code == 404
    assert b"Router" not in other.get("/workspace/privileged/vault/").content
    # edit and delete
    assert (
        client.post(
            f"/workspace/privileged/vault/{secret.pk}/edit/", {"name": "Core router", "value": ""}
        ).status_code
        == 302
    )
    secret.refresh_from_db()
    assert secret.name == "Core router"
    assert client.post(f"/workspace/privileged/vault/{secret.pk}/delete/").status_code == 302
    assert not Secret.objects.filter(pk=secret.pk).exists()


def test_the_vault_lists_credentials_checked_in_to_me(pam):
    checkout_open(actor=pam["admin"], source="console", account=pam["postgres"], user=pam["dba1"])
    assert b"postgres@proddb" in login(pam["dba1"]).get("/workspace/privileged/vault/").content
    assert b"postgres@proddb" not in login(pam["dba2"]).get("/workspace/privileged/vault/").content

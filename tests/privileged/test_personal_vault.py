"""The personal vault in the workspace: store, list (names only), reveal after re-entering the
password, edit, delete; another user sees nothing of it."""

from __future__ import annotations

from django.test import Client

from authn.factors import recovery_codes_regenerate
from blazon.audit.models import AuditEvent
from tests.authn.conftest import enrol_totp, next_code
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


# --- re-authentication with a TOTP code ------------------------------------------------------------


def _vault_with_secret(pam, user):
    client = login(user)
    client.post("/workspace/privileged/vault/new/", {"name": "Router", "value": "s3cr3t-value"})
    return client, Secret.objects.get(owner=user, kind=SecretKind.PERSONAL)


def _shown(client, secret) -> bool:
    return (
        b"s3cr3t-value"
        in client.post(f"/workspace/privileged/vault/{secret.pk}/reveal/", follow=True).content
    )


def test_a_current_totp_code_unlocks_the_vault_for_five_minutes(pam):
    user = pam["dba1"]
    totp = enrol_totp(user)
    client, secret = _vault_with_secret(pam, user)
    page = client.get("/workspace/privileged/vault/")
    assert b'name="code"' in page.content and b"authenticator" in page.content
    # a wrong code: locked, audited
    client.post(
        "/workspace/privileged/vault/unlock/",
        {"code": "000000" if next_code(totp, user) != "000000" else "111111"},
    )
    assert not _shown(client, secret)
    failed = AuditEvent.objects.get(action="vault.reauth_failed", actor_id=user.pk)
    assert failed.new_values == {"factor": "totp"}
    # a current code: unlocked
    code = next_code(totp, user)
    client.post("/workspace/privileged/vault/unlock/", {"code": code})
    assert _shown(client, secret)
    assert AuditEvent.objects.filter(action="vault.reauth_confirmed", new_values__factor="totp").exists()
    # five minutes later it is locked again
    session = client.session
    session["personal_vault_unlocked_at"] -= 301
    session.save()
    assert not _shown(client, secret)
    # the same code is not accepted twice
    client.post("/workspace/privileged/vault/unlock/", {"code": code})
    assert not _shown(client, secret)


def test_a_code_without_an_authenticator_app_and_a_recovery_code_do_not_unlock(pam):
    user = pam["dba2"]
    client, secret = _vault_with_secret(pam, user)
    assert b'name="code"' not in client.get("/workspace/privileged/vault/").content
    client.post("/workspace/privileged/vault/unlock/", {"code": "123456"})
    assert not _shown(client, secret)
    assert AuditEvent.objects.filter(action="vault.reauth_failed", actor_id=user.pk).count() == 1
    recovery = recovery_codes_regenerate(user=user)[0]
    client.post("/workspace/privileged/vault/unlock/", {"code": recovery})
    assert not _shown(client, secret)


def test_after_five_wrong_attempts_even_the_right_password_waits(pam):
    user = pam["dba1"]
    user.set_password("correct horse battery")
    user.save()
    client, secret = _vault_with_secret(pam, user)
    for _ in range(5):
        client.post("/workspace/privileged/vault/unlock/", {"password": "nope"})
    answer = client.post(
        "/workspace/privileged/vault/unlock/", {"password": "correct horse battery"}, follow=True
    )
    assert b"Too many wrong attempts" in answer.content
    assert not _shown(client, secret)
    assert AuditEvent.objects.filter(action="vault.reauth_failed", actor_id=user.pk).count() == 5

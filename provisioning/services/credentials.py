"""Credentials an adapter created in an application, stored in Blazon's vault (issue #4 §3).

When an adapter sets an account's initial password, or an application hands it a new secret
for an application account, the value must not stay with the adapter: it sends it here, the
vault encrypts it at rest, and from then on only those the vault allows read it (a manual
task's resolver, a check-in holder).

* **Scope**: the entry must be of one of the client's resources (else 404) and held by the
  client — leased to it, or finished by it (a report may have gone first) — else 409; the
  account must be the entry's own account (else 403).
* **Idempotent**: one ``AdapterCredential`` per entry, account, kind and name; the same upload
  again returns what the first one stored and changes nothing.
* **Audit** names the entry, the account, the kind and the vault secret; never the value.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.models import Account
from provisioning.models import AdapterClient, AdapterCredential, EntryStatus
from provisioning.services.adapter import SOURCE, _lock_entry
from vault.models import Secret, SecretKind
from vault.services import secret_store, secret_update

#: What an adapter may store: an account's password, or an application account's credential.
CREDENTIAL_KINDS = (SecretKind.ACCOUNT_PASSWORD, SecretKind.APPLICATION_CREDENTIAL)


def _default_name(account: Account, kind: str) -> str:
    what = "password" if kind == SecretKind.ACCOUNT_PASSWORD else "credential"
    return f"{account.resource.code}/{account.identifier} {what}"[:200]


@transaction.atomic
def adapter_credential_store(
    *,
    client: AdapterClient,
    entry_id: int,
    kind: str,
    value: str,
    account_id: int | None = None,
    name: str = "",
) -> tuple[AdapterCredential, bool]:
    """Store in the vault a credential ``client`` created while executing entry ``entry_id``.
    Returns the record and whether this call stored it (False: a retry of an earlier upload).
    An account password replaces the account's password in the vault (a rotation)."""
    errors: dict[str, list[str]] = {}
    if kind not in CREDENTIAL_KINDS:
        errors["kind"] = [
            gettext("One of %(CREDENTIAL_KINDS)s.") % {"CREDENTIAL_KINDS": ", ".join(CREDENTIAL_KINDS)}
        ]
    if not isinstance(value, str) or not value:
        errors["value"] = [gettext("The credential's value is required.")]
    if errors:
        raise ValidationFailed(gettext("The credential is not valid."), fields=errors)
    entry = _lock_entry(client, entry_id)
    held = entry.lease_owner_id == client.pk and entry.status in (EntryStatus.PULLED, EntryStatus.SUCCEEDED)
    if not held:
        raise Conflict(
            gettext(
                "Provisioning entry #%(pk)s is not held by you (%(status)s): an adapter stores credentials only for the entries it holds."
            )
            % {"pk": entry.pk, "status": entry.status},
            code="entry_not_held",
        )
    if entry.account_id is None or (account_id is not None and account_id != entry.account_id):
        raise NotAllowed(
            gettext(
                "Account #%(account_id)s is not the account of provisioning entry #%(pk)s: an adapter stores credentials only for the accounts of the entries it holds."
            )
            % {"account_id": account_id, "pk": entry.pk}
        )
    account = Account.objects.select_related("resource").get(pk=entry.account_id)
    name = (name or "").strip() or _default_name(account, kind)
    existing = (
        AdapterCredential.objects.select_related("secret")
        .filter(entry=entry, account=account, kind=kind, name=name)
        .first()
    )
    if existing is not None:
        return existing, False
    secret: Secret | None = None
    if kind == SecretKind.ACCOUNT_PASSWORD:
        secret = Secret.objects.filter(account=account, kind=kind).first()
    if secret is not None:
        secret = secret_update(actor=None, source=SOURCE, secret=secret, value=value)
    else:
        secret = secret_store(
            actor=None, source=SOURCE, owner=None, kind=kind, name=name, value=value, account=account
        )
    credential = AdapterCredential.objects.create(
        entry=entry, account=account, kind=kind, name=name, secret=secret, client=client
    )
    audit_record(
        actor=None,
        action="provisioning.credential_stored",
        obj=entry,
        new=_describe(credential, client),
        source=SOURCE,
        subject_user_id=account.owner_id,
    )
    return credential, True


def _describe(credential: AdapterCredential, client: AdapterClient) -> dict[str, Any]:
    return {
        "adapter": client.name,
        "account_id": credential.account_id,
        "kind": credential.kind,
        "name": credential.name,
        "vault_item": str(credential.secret_id),  # not "secret…": the audit would mask the id
    }

"""A small, believable directory for the browser tests and the screenshots, built through the
services so the audit log has real history."""

from __future__ import annotations

from typing import Any

from directory.models import ConsoleRole, RoleChange, User
from directory.services import access, config

PASSWORD = "correct horse battery staple"  # noqa: S105 - test credential
SRC = "console"

PEOPLE = [
    ("Ana", "Souza", "finance"),
    ("Bruno", "Lima", "finance"),
    ("Carla", "Mendes", "finance"),
    ("Diego", "Ferreira", "engineering"),
    ("Elisa", "Rocha", "engineering"),
    ("Fabio", "Costa", "engineering"),
    ("Gabriela", "Alves", "engineering"),
    ("Hugo", "Pereira", "sales"),
    ("Iris", "Barros", "sales"),
    ("João", "Carvalho", "sales"),
    ("Karina", "Dias", "engineering"),
    ("Lucas", "Martins", "finance"),
]


def _user(username: str, first: str, last: str, **extra: Any) -> User:
    user = User(username=username, first_name=first, last_name=last, email=f"{username}@example.com", **extra)
    user.set_password(PASSWORD)
    user.save()
    return user


def build(*, rich: bool = False) -> dict[str, Any]:
    """An administrator ``admin``, three departments, resources with entitlements, roles with
    members. ``rich`` adds life-cycle history for the screenshots."""
    admin = _user("admin", "Ada", "Admin", console_role=ConsoleRole.ADMINISTRATOR)
    orgs = {
        code: config.organization_create(actor=admin, source=SRC, code=code, name=code.title())
        for code in ("finance", "engineering", "sales")
    }
    res = {}
    for code, name, crit in [
        ("github", "GitHub", "HIGH"),
        ("ad", "Active Directory", "CRITICAL"),
        ("sap", "SAP ERP", "HIGH"),
        ("salesforce", "Salesforce", "MEDIUM"),
        ("o365", "Office 365", "LOW"),
    ]:
        res[code] = config.resource_create(
            actor=admin,
            source=SRC,
            code=code,
            name=name,
            criticality=crit,
            provisioning_modes={"CREATE_ACCOUNT": "AUTOMATIC", "GRANT_ENTITLEMENT": "AUTOMATIC"},
        )
    ents = {}
    for rcode, ident, name in [
        ("github", "gh-admins", "GitHub admins"),
        ("github", "gh-devs", "GitHub developers"),
        ("ad", "domain-users", "Domain users"),
        ("ad", "vpn", "VPN access"),
        ("sap", "fi-post", "FI posting"),
        ("sap", "fi-approve", "FI approval"),
        ("salesforce", "sf-rep", "Sales rep"),
        ("o365", "e3", "E3 licence"),
    ]:
        ents[ident] = config.entitlement_create(
            actor=admin, source=SRC, resource=res[rcode], identifier=ident, name=name
        )
    roles = {
        "developers": config.role_create(actor=admin, source=SRC, code="developers", name="Developers"),
        "accountants": config.role_create(actor=admin, source=SRC, code="accountants", name="Accountants"),
        "sales": config.role_create(actor=admin, source=SRC, code="sales-reps", name="Sales reps"),
    }
    items = {
        "developers": ["gh-devs", "domain-users"],
        "accountants": ["fi-post", "domain-users", "e3"],
        "sales": ["sf-rep", "e3"],
    }
    for key, idents in items.items():
        for ident in idents:
            access.role_change_submit(
                actor=admin,
                source=SRC,
                role=roles[key],
                action=RoleChange.Action.ADD,
                entitlement=ents[ident],
            )
    dept_role = {"engineering": "developers", "finance": "accountants", "sales": "sales"}
    users = {}
    for first, last, dept in PEOPLE:
        username = f"{first.lower().replace('ã', 'a')}.{last.lower()}"
        u = _user(
            username, first, last, organization=orgs[dept], department=dept.title(), job_title="Analyst"
        )
        access.role_grant(actor=admin, source=SRC, user=u, role=roles[dept_role[dept]])
        users[username] = u
    if rich:
        from directory.services import lifecycle

        lifecycle.user_inactivate(actor=admin, source=SRC, user=users["hugo.pereira"])
        lifecycle.user_revoke(actor=admin, source=SRC, user=users["lucas.martins"])
        lifecycle.user_lock(actor=admin, source=SRC, user=users["iris.barros"])
        account = (
            access.account_create(actor=admin, source=SRC, resource=res["github"], owner=users["elisa.rocha"])
            if not users["elisa.rocha"].accounts.filter(resource=res["github"]).exists()
            else users["elisa.rocha"].accounts.get(resource=res["github"])
        )
        access.membership_grant(actor=admin, source=SRC, account=account, entitlement=ents["gh-admins"])
        access.account_create(
            actor=admin,
            source=SRC,
            resource=res["sap"],
            identifier="svc-batch",
            account_type="APPLICATION",
            responsible=admin,
        )
    return {"admin": admin, "orgs": orgs, "res": res, "ents": ents, "roles": roles, "users": users}

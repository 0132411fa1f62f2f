"""``manage.py load_demo``: a believable company to explore Blazon with (issue #2 §7).

Everything goes through the domain services (so the audit log tells the story of the set-up):
organizations, ~10 resources with owners and entitlements, users in departments with managers
created in bulk (``users_bulk_create``), one role per department granted to its people
(``role_grant``) and filled afterwards with resources and entitlements, so the set-based fan-out
gives every member their accounts and groups in a few statements. Then some manual grants,
orphan, shared, administrative and temporary accounts, and a few inactive and revoked users.

Idempotent: when the demo company exists it does nothing. Deterministic for a given --seed.
"""

from __future__ import annotations

import os
import random
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction
from django.db.models import Count
from django.utils import timezone

from blazon.audit.services import audit_record
from blazon.errors import DomainError
from certification.models import CertificationItem
from certification.services.campaigns import campaign_start
from certification.services.decisions import items_decide
from certification.services.policies import certification_policy_create
from directory.models import (
    Account,
    AccountType,
    ConsoleRole,
    Entitlement,
    EntitlementMembership,
    Organization,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
    Role,
    RoleChange,
    User,
    UserStatus,
)
from directory.services import access, config, lifecycle, users
from privileged.demo import load_privileged_demo
from provisioning.services.inprocess import inprocess_adapter_configure
from reconciliation.services.profiles import profile_create
from reconciliation.services.runs import run_and_execute
from reconciliation.sources import files_dir
from requests_workflow.services.policies import approval_level_add, approval_policy_create
from requests_workflow.services.requests import request_create
from sod.models import SoDViolation
from sod.services.assignment import assignment_policy_create
from sod.services.decide import sod_violation_task_decide
from sod.services.rules import sod_rule_create
from sod.services.scan import sod_scan

ROOT_ORG = "atlantico"
SOURCE = "console"
ADMIN_PASSWORD = "blazon-admin-demo"
USER_PASSWORD = "blazon-demo-user"

FIRST_NAMES = [
    "João", "Maria", "Ana", "Pedro", "Luís", "Beatriz", "Conceição", "André", "Inês", "Tomás", "Mariana",
    "Gonçalo", "Sofia", "Rafael", "Leonor", "Vitória", "Caio", "Letícia", "Otávio", "Júlia", "Renée",
    "John", "Mary", "James", "Emily", "Michael", "Sarah", "David", "Olivia", "Daniel", "Chloé", "Zoë",
    "William", "Grace", "Thomas", "Hannah", "Patrícia", "Sebastião", "Fátima", "Cecília",
]  # fmt: skip
MIDDLE_NAMES = ["", "", "", "Pedro", "Luísa", "Maria", "Antônio", "Elizabeth", "James", "Helena", "José"]
LAST_NAMES = [
    "Silva", "Santos", "Oliveira", "Souza", "Conceição", "Pereira", "Costa", "Rodrigues", "Almeida", "Gonçalves",
    "Araújo", "Magalhães", "Brandão", "Simões", "Lopes", "Ribeiro", "Fernandes", "Smith", "Jones", "Brown",
    "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Johnson", "Walker", "O'Neill", "Müller", "García",
]  # fmt: skip

# code, name, share of the people, job titles (the first is the head's), resources of the role
DEPARTMENTS: list[tuple[str, str, int, list[str], list[str]]] = [
    ("it", "IT", 12, ["Head of IT", "IT Manager", "Systems Administrator", "Network Engineer", "Help Desk Analyst"],
     ["ad", "o365", "slack", "servicenow", "aws"]),
    ("engineering", "Engineering", 22, ["VP Engineering", "Engineering Manager", "Software Engineer",
     "Senior Software Engineer", "QA Engineer"], ["ad", "o365", "slack", "github", "jira", "aws"]),
    ("finance", "Finance", 12, ["CFO", "Finance Manager", "Accountant", "Financial Analyst", "Controller"],
     ["ad", "o365", "slack", "sap", "workday"]),
    ("sales", "Sales", 18, ["Sales Director", "Sales Manager", "Account Executive", "Sales Representative",
     "Sales Operations Analyst"], ["ad", "o365", "slack", "salesforce"]),
    ("hr", "Human Resources", 8, ["HR Director", "HR Manager", "HR Business Partner", "Recruiter",
     "Payroll Analyst"], ["ad", "o365", "slack", "workday"]),
    ("operations", "Operations", 16, ["COO", "Operations Manager", "Logistics Coordinator", "Buyer",
     "Warehouse Supervisor"], ["ad", "o365", "slack", "sap", "servicenow"]),
    ("legal", "Legal", 5, ["General Counsel", "Legal Manager", "Lawyer", "Paralegal", "Compliance Analyst"],
     ["ad", "o365", "slack"]),
    ("marketing", "Marketing", 7, ["CMO", "Marketing Manager", "Marketing Analyst", "Designer",
     "Content Writer"], ["ad", "o365", "slack", "salesforce"]),
]  # fmt: skip

AUTO = ProvisioningMode.AUTOMATIC
MANUAL = ProvisioningMode.MANUAL
DISABLED = ProvisioningMode.DISABLED
# code, name, criticality, owner department, account provisioning mode, entitlements (identifier, name, criticality)
RESOURCES: list[tuple[str, str, str, str, str, list[tuple[str, str, str]]]] = [
    ("ad", "Active Directory", "CRITICAL", "it", AUTO, [
        ("CN=All Staff", "All Staff", "LOW"), ("CN=VPN Users", "VPN Users", "MEDIUM"),
        ("CN=IT Admins", "IT Admins", "CRITICAL"), ("CN=Finance Share", "Finance Share", "HIGH"),
        ("CN=Engineering", "Engineering", "MEDIUM"), ("CN=Domain Admins", "Domain Admins", "CRITICAL")]),
    ("o365", "Office 365", "HIGH", "it", AUTO, [
        ("E3", "Microsoft 365 E3", "LOW"), ("E5", "Microsoft 365 E5", "MEDIUM"),
        ("teams-admin", "Teams Administrator", "HIGH")]),
    ("sap", "SAP ERP", "CRITICAL", "finance", AUTO, [
        ("FI_AP_CLERK", "Accounts Payable Clerk", "HIGH"), ("FI_GL_ACCOUNTANT", "General Ledger Accountant", "HIGH"),
        ("FI_APPROVER", "Payment Approver", "CRITICAL"), ("MM_BUYER", "Purchasing Buyer", "HIGH"),
        ("MM_WAREHOUSE", "Warehouse Clerk", "MEDIUM"), ("SAP_ALL", "SAP_ALL (superuser)", "CRITICAL")]),
    ("salesforce", "Salesforce", "HIGH", "sales", AUTO, [
        ("sales-user", "Sales User", "MEDIUM"), ("sales-manager", "Sales Manager", "HIGH"),
        ("marketing-user", "Marketing User", "MEDIUM"), ("sf-admin", "System Administrator", "CRITICAL")]),
    ("github", "GitHub", "HIGH", "engineering", AUTO, [
        ("developers", "Developers", "MEDIUM"), ("maintainers", "Maintainers", "HIGH"),
        ("owners", "Organization Owners", "CRITICAL")]),
    ("jira", "Jira", "MEDIUM", "engineering", AUTO, [
        ("jira-software-users", "Software Users", "LOW"), ("jira-administrators", "Administrators", "HIGH")]),
    ("aws", "Amazon Web Services", "CRITICAL", "it", MANUAL, [
        ("ReadOnlyAccess", "Read-only", "MEDIUM"), ("PowerUserAccess", "Power User", "HIGH"),
        ("AdministratorAccess", "Administrator", "CRITICAL")]),
    ("servicenow", "ServiceNow", "MEDIUM", "it", AUTO, [
        ("itil", "ITIL Agent", "MEDIUM"), ("approver_user", "Approver", "LOW"), ("admin", "Administrator", "HIGH")]),
    ("slack", "Slack", "LOW", "it", AUTO, [
        ("member", "Member", "LOW"), ("workspace-admin", "Workspace Admin", "HIGH")]),
    ("workday", "Workday", "HIGH", "hr", MANUAL, [
        ("employee", "Employee Self-Service", "LOW"), ("hr-partner", "HR Partner", "HIGH"),
        ("payroll", "Payroll Administrator", "CRITICAL")]),
]  # fmt: skip

# entitlements each department's role holds (by resource code)
ROLE_ENTITLEMENTS: dict[str, dict[str, list[str]]] = {
    "it": {"ad": ["CN=All Staff", "CN=VPN Users", "CN=IT Admins"], "o365": ["E5"], "slack": ["member"],
           "servicenow": ["itil"], "aws": ["ReadOnlyAccess"]},
    "engineering": {"ad": ["CN=All Staff", "CN=VPN Users", "CN=Engineering"], "o365": ["E3"], "slack": ["member"],
                    "github": ["developers"], "jira": ["jira-software-users"], "aws": ["ReadOnlyAccess"]},
    "finance": {"ad": ["CN=All Staff", "CN=Finance Share"], "o365": ["E3"], "slack": ["member"],
                "sap": ["FI_AP_CLERK", "FI_GL_ACCOUNTANT"], "workday": ["employee"]},
    "sales": {"ad": ["CN=All Staff", "CN=VPN Users"], "o365": ["E3"], "slack": ["member"],
              "salesforce": ["sales-user"]},
    "hr": {"ad": ["CN=All Staff"], "o365": ["E3"], "slack": ["member"], "workday": ["employee", "hr-partner"]},
    "operations": {"ad": ["CN=All Staff"], "o365": ["E3"], "slack": ["member"], "sap": ["MM_BUYER", "MM_WAREHOUSE"],
                   "servicenow": ["approver_user"]},
    "legal": {"ad": ["CN=All Staff"], "o365": ["E5"], "slack": ["member"]},
    "marketing": {"ad": ["CN=All Staff"], "o365": ["E3"], "slack": ["member"], "salesforce": ["marketing-user"]},
}  # fmt: skip


class Command(BaseCommand):
    help = "Load a demo company (users, resources, roles, accounts). Does nothing when it is already loaded."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--users", type=int, default=300, help="How many employees (default 300, at least 30)."
        )
        parser.add_argument(
            "--seed", type=int, default=42, help="Random seed: the same seed gives the same company."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["users"]
        if count < 30:
            raise CommandError(
                "--users must be at least 30 (a CEO, then a head and a few people per department)."
            )
        if (
            Organization.objects.filter(code=ROOT_ORG).exists()
            or User.objects.filter(username="admin").exists()
        ):
            self.stdout.write(
                "Demo data is already loaded (organization 'atlantico' or user 'admin' exists): nothing done."
            )
            return
        started = timezone.now()
        with transaction.atomic():
            demo = Demo(random.Random(options["seed"]), count)  # noqa: S311 - demo data, not security
            summary = demo.load()
        for warning in demo.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        seconds = (timezone.now() - started).total_seconds()
        self.stdout.write(self.style.SUCCESS(f"Demo company loaded in {seconds:.1f}s: {summary}"))
        password = os.environ.get("BLAZON_DEMO_PASSWORD")
        self.stdout.write(
            f"  console: admin / {password or ADMIN_PASSWORD}\n"
            f"  console: helpdesk, auditor / {password or USER_PASSWORD}\n"
            f"  workspace: any demo user / {password or USER_PASSWORD}"
        )
        waiting = sorted(
            set(
                User.objects.filter(
                    tasks__status="OPEN", tasks__kind__in=["APPROVAL", "PROVISIONING"]
                ).values_list("username", flat=True)
            )
        )
        if waiting:
            self.stdout.write(f"  workspace, with tasks waiting in My tasks: {', '.join(waiting)}")


class Demo:
    """Builds the demo company; one method per part so each is easy to find and change."""

    def __init__(self, rng: random.Random, count: int) -> None:
        self.rng = rng
        self.count = count
        self.admin: User | None = None
        env_password = os.environ.get("BLAZON_DEMO_PASSWORD")
        self.admin_password = env_password or ADMIN_PASSWORD
        self.user_hash = make_password(env_password or USER_PASSWORD)  # hashed once, shared
        self.resources: dict[str, Resource] = {}
        self.entitlements: dict[tuple[str, str], Any] = {}
        self.people: dict[str, list[User]] = {}
        self.heads: dict[str, User] = {}
        self.warnings: list[str] = []

    def load(self) -> str:
        self.console_users()
        self.policy_and_attributes()
        self.organizations()
        self.employees()
        self.resources_and_entitlements()
        self.inprocess_adapters()
        self.roles()
        self.manual_resources_on()
        self.manual_grants()
        self.special_accounts()
        self.life_cycle()
        self.segregation_of_duties()
        self.role_governance()
        self.approvals_and_requests()
        self.privileged_access()
        self.certification()
        self.reconciliation()
        return (
            f"{User.objects.count()} users, {Resource.objects.count()} resources, "
            f"{Account.objects.count()} accounts, {RoleChange.objects.count()} role items"
        )

    # -- people ----------------------------------------------------------------------------------

    def console_users(self) -> None:
        admin = users.user_create(
            actor=None,
            source=SOURCE,
            data={"username": "admin", "first_name": "Blazon", "last_name": "Administrator",
                  "email": "admin@atlantico.example", "job_title": "Identity Administrator"},
        )  # fmt: skip
        # The documented demo password is set outside the password policy (it would fail the
        # default one: no digit, dictionary words), as the bulk-created demo users' hash is.
        admin.password = make_password(self.admin_password)
        admin.save(update_fields=["password"])
        self.admin = admin
        users.users_bulk_create(
            actor=admin,
            source=SOURCE,
            rows=[
                {"username": "helpdesk", "first_name": "Help", "last_name": "Desk", "job_title": "Help Desk Agent",
                 "email": "helpdesk@atlantico.example"},
                {"username": "auditor", "first_name": "Internal", "last_name": "Auditor", "job_title": "IT Auditor",
                 "email": "auditor@atlantico.example"},
            ],
            password_hash=self.user_hash,
        )  # fmt: skip
        # The system makes the first administrator; that administrator names the others.
        self.admin = users.console_role_set(
            actor=None, source=SOURCE, user=admin, role=ConsoleRole.ADMINISTRATOR
        )
        for username, role in (("helpdesk", ConsoleRole.HELPDESK), ("auditor", ConsoleRole.AUDITOR)):
            users.console_role_set(
                actor=self.admin, source=SOURCE, user=User.objects.get(username=username), role=role
            )
        # Superuser too, for Django's own admin site (not a console role: no service owns it).
        User.objects.filter(pk=admin.pk).update(is_superuser=True, is_staff=True)
        audit_record(
            actor=None,
            action="user.superuser_granted",
            obj=admin,
            new={"is_superuser": True, "is_staff": True},
            source=SOURCE,
            subject_user_id=admin.pk,
        )

    def policy_and_attributes(self) -> None:
        config.username_policy_update(
            actor=self.admin,
            source=SOURCE,
            data={
                "patterns": ["{first}.{last}", "{first}.{middle_initial}.{last}", "{f}{last}"],
                "max_length": 30,
            },
        )
        config.attribute_definition_create(
            actor=self.admin, source=SOURCE, scope="USER", name="employee_id", label="Employee ID",
            unique=True, regex=r"E\d{5}", position=1,
        )  # fmt: skip
        config.attribute_definition_create(
            actor=self.admin, source=SOURCE, scope="USER", name="cost_center", label="Cost center", position=2
        )
        config.attribute_definition_create(
            actor=self.admin, source=SOURCE, scope="USER", name="contractor", label="Contractor", type="BOOLEAN",
            position=3,
        )  # fmt: skip

    def organizations(self) -> None:
        root = config.organization_create(
            actor=self.admin, source=SOURCE, code=ROOT_ORG, name="Atlântico Indústrias S.A."
        )
        self.orgs = {ROOT_ORG: root}
        for code, name, *_ in DEPARTMENTS:
            self.orgs[code] = config.organization_create(
                actor=self.admin, source=SOURCE, code=code, name=name, parent=root
            )

    def _name(self, used: set[tuple[str, str, str]]) -> tuple[str, str, str]:
        while True:
            name = (self.rng.choice(FIRST_NAMES), self.rng.choice(MIDDLE_NAMES), self.rng.choice(LAST_NAMES))
            if name not in used or len(used) > 5000:
                used.add(name)
                return name

    def employees(self) -> None:
        """The CEO, one head per department reporting to the CEO, and the people reporting to
        their head or to one of the department's managers. Usernames are chosen here (first.last,
        then a number) so the e-mail addresses can follow them."""
        rng = self.rng
        used: set[tuple[str, str, str]] = set()
        explicit: set[str] = {"admin", "helpdesk", "auditor"}
        total_share = sum(d[2] for d in DEPARTMENTS)
        managers_rows: list[dict] = []
        staff_rows: list[dict] = []
        number = iter(range(10001, 99999))
        head_of: dict[str, str] = {}

        def row(
            first: str, middle: str, last: str, dept: str, title: str, manager: str | None, **kw: Any
        ) -> dict:
            emp = next(number)
            started = date(2015, 1, 1) + timedelta(days=rng.randrange(0, 3650))
            return {
                "first_name": first,
                "middle_name": middle,
                "last_name": last,
                "email": f"{kw['username']}@atlantico.example",
                "organization": dept,
                "department": dict((d[0], d[1]) for d in DEPARTMENTS)[dept] if dept != ROOT_ORG else "Board",
                "job_title": title,
                "employee_type": "contractor" if kw.get("contractor") else "employee",
                "manager": manager,
                "start_date": started,
                "attributes": {
                    "employee_id": f"E{emp}",
                    "cost_center": f"CC-{dept.upper()[:4]}-{emp % 7 + 1}",
                    "contractor": bool(kw.get("contractor")),
                },  # fmt: skip
                "username": kw["username"],
            }

        def username(first: str, last: str) -> str:
            values = users.username_placeholders(first_name=first, last_name=last)
            base = f"{values['first']}.{values['last']}".lower()
            name, n = base, 1
            while name in explicit:
                n += 1
                name = f"{base}{n}"
            explicit.add(name)
            return name

        first, middle, last = self._name(used)
        ceo = username(first, last)
        managers_rows.append(
            row(first, middle, last, ROOT_ORG, "Chief Executive Officer", None, username=ceo)
        )
        sizes = {d[0]: max(3, round((self.count - 1) * d[2] / total_share)) for d in DEPARTMENTS}
        biggest = max(sizes, key=sizes.__getitem__)
        sizes[biggest] += self.count - 1 - sum(sizes.values())  # the exact total asked for
        for code, _name, _share, titles, _res in DEPARTMENTS:
            size = sizes[code]
            first, middle, last = self._name(used)
            head = username(first, last)
            managers_rows.append(row(first, middle, last, code, titles[0], ceo, username=head))
            leads = [head]
            for _ in range(max(1, (size - 1) // 8)):
                first, middle, last = self._name(used)
                lead = username(first, last)
                managers_rows.append(row(first, middle, last, code, titles[1], head, username=lead))
                leads.append(lead)
            head_of[head] = code
            for _ in range(size - len(leads)):
                first, middle, last = self._name(used)
                staff_rows.append(
                    row(first, middle, last, code, rng.choice(titles[2:]), rng.choice(leads),
                        contractor=rng.random() < 0.08, username=username(first, last))
                )  # fmt: skip
        users.users_bulk_create(
            actor=self.admin, source="import", rows=managers_rows + staff_rows, password_hash=self.user_hash
        )
        demo = User.objects.filter(organization__isnull=False).select_related("organization")
        for user in demo.order_by("pk"):
            self.people.setdefault(user.organization.code, []).append(user)
            if user.username in head_of:
                self.heads[head_of[user.username]] = user
        for code, head in self.heads.items():
            config.organization_update(
                actor=self.admin, source=SOURCE, organization=self.orgs[code], data={"owner": head.pk}
            )

    # -- applications ----------------------------------------------------------------------------

    def resources_and_entitlements(self) -> None:
        for code, name, criticality, owner_dept, mode, entitlements in RESOURCES:
            owners = [self.heads[owner_dept].pk] if owner_dept in self.heads else []
            # A MANUAL resource starts DISABLED: what the roles give at load time exists in the
            # application already (no task for it); ``approvals_and_requests`` turns it MANUAL,
            # so what is asked from then on becomes a task for its owners.
            modes = {event: mode if mode == AUTO else DISABLED for event in ProvisioningEvent.values}
            self.resources[code] = config.resource_create(
                actor=self.admin, source=SOURCE, code=code, name=name, criticality=criticality,
                owners=owners, provisioning_modes=modes, description=f"{name} of Atlântico Indústrias.",
            )  # fmt: skip
            for identifier, ent_name, ent_criticality in entitlements:
                self.entitlements[(code, identifier)] = config.entitlement_create(
                    actor=self.admin, source=SOURCE, resource=self.resources[code], identifier=identifier,
                    name=ent_name, criticality=ent_criticality, owner=owners[0] if owners else None,
                    self_service=ent_criticality != "CRITICAL",
                )  # fmt: skip

    def inprocess_adapters(self) -> None:
        """AUTOMATIC resources are provisioned by the in-process runner (``run_adapters``, started
        by ``bin/run``) into CSV files under var/apps/<code>/; AWS and Workday stay MANUAL so the
        workspace shows manual provisioning tasks too."""

        for code, _name, _criticality, _dept, mode, _entitlements in RESOURCES:
            if mode == AUTO:
                inprocess_adapter_configure(
                    actor=self.admin, source=SOURCE, resource=self.resources[code],
                    connector_type="csv", settings={"directory": code},
                )  # fmt: skip

    def roles(self) -> None:
        """Members first, items afterwards: each item then reaches every member in one set-based
        fan-out instead of one per member."""
        for code, name, _share, _titles, resource_codes in DEPARTMENTS:
            role = config.role_create(
                actor=self.admin, source=SOURCE, code=f"{code}-staff", name=f"{name} staff",
                description=f"Baseline access for everyone in {name}.", owner=self.heads.get(code),
            )  # fmt: skip
            for user in self.people.get(code, []):
                access.role_grant(actor=self.admin, source=SOURCE, user=user, role=role)
            for res_code in resource_codes:
                self._role_item(role, resource=self.resources[res_code])
                for ent_id in ROLE_ENTITLEMENTS[code].get(res_code, []):
                    self._role_item(role, entitlement=self.entitlements[(res_code, ent_id)])

    def _role_item(self, role: Any, *, resource: Resource | None = None, entitlement: Any = None) -> None:
        change = access.role_change_submit(
            actor=self.admin,
            source=SOURCE,
            role=role,
            action="ADD",
            resource=resource,
            entitlement=entitlement,
            approval=False,  # seeding: the roles' owners approve later changes, not the initial load
        )
        access.role_change_apply(role_change_id=change.pk)  # now, not after commit: later steps build on it

    def _account(self, user: User, res_code: str) -> Account:
        account = Account.objects.filter(
            owner=user, resource=self.resources[res_code], account_type="REGULAR"
        ).first()
        return account or access.account_create(
            actor=self.admin, source=SOURCE, resource=self.resources[res_code], owner=user
        )

    def manual_grants(self) -> None:
        """A few accesses outside the roles: what certification campaigns will ask about."""
        rng = self.rng
        grants = [
            ("engineering", "github", "maintainers", 4),
            ("it", "aws", "PowerUserAccess", 3),
            ("finance", "sap", "FI_APPROVER", 2),
            ("sales", "salesforce", "sales-manager", 2),
            ("it", "ad", "CN=Domain Admins", 1),
            ("operations", "jira", "jira-software-users", 2),
        ]
        for dept, res_code, ent_id, n in grants:
            people = [u for u in self.people.get(dept, []) if u != self.heads.get(dept)]
            for user in rng.sample(people, min(n, len(people))):
                access.membership_grant(
                    actor=self.admin, source=SOURCE, account=self._account(user, res_code),
                    entitlement=self.entitlements[(res_code, ent_id)],
                )  # fmt: skip

    def special_accounts(self) -> None:
        rng = self.rng
        it_people = self.people.get("it", [])
        # orphans: found on the applications, nobody owns them
        for res_code, identifier in [
            ("ad", "svc-backup"), ("ad", "old.contractor"), ("sap", "RFC_BATCH"), ("salesforce", "integration.user"),
            ("github", "ci-bot"), ("aws", "legacy-deployer"),
        ]:  # fmt: skip
            access.account_create(
                actor=self.admin, source=SOURCE, resource=self.resources[res_code], identifier=identifier
            )
        # shared accounts, with a responsible user and members
        for res_code, identifier, dept in [
            ("o365", "finance.shared", "finance"),
            ("slack", "sales-events", "sales"),
        ]:
            responsible = self.heads.get(dept) or self.admin
            account = access.account_create(
                actor=self.admin, source=SOURCE, resource=self.resources[res_code], identifier=identifier,
                account_type=AccountType.SHARED, responsible=responsible,
            )  # fmt: skip
            members = rng.sample(self.people.get(dept, []), min(4, len(self.people.get(dept, []))))
            for member in members:
                access.shared_member_add(actor=self.admin, source=SOURCE, account=account, user=member)
        # administrative accounts, each with a responsible administrator
        admins = it_people[:3] or [self.admin]
        for res_code, identifier in [
            ("ad", "adm-domain"),
            ("aws", "root"),
            ("sap", "SAP_ADMIN"),
            ("github", "org-admin"),
        ]:
            access.account_create(
                actor=self.admin, source=SOURCE, resource=self.resources[res_code], identifier=identifier,
                account_type=AccountType.ADMINISTRATIVE, responsible=rng.choice(admins),
            )  # fmt: skip
        # a temporary account for a consultant, expiring in 30 days
        access.account_create(
            actor=self.admin, source=SOURCE, resource=self.resources["aws"], identifier="consultant.audit2025",
            is_temporary=True, expires_at=timezone.now() + timedelta(days=30),
        )  # fmt: skip

    def life_cycle(self) -> None:
        """A few people on leave (INACTIVE) and a few who left (REVOKED)."""
        staff = [
            u for code, people in sorted(self.people.items()) for u in people if u not in self.heads.values()
        ]
        staff = [u for u in staff if not u.direct_reports.exists()]
        chosen = self.rng.sample(staff, min(len(staff), max(2, self.count // 50)))
        half = len(chosen) // 2
        try:
            with transaction.atomic():
                for user in chosen[:half]:
                    lifecycle.user_inactivate(actor=self.admin, source=SOURCE, user=user)
                for user in chosen[half:]:
                    lifecycle.user_revoke(actor=self.admin, source=SOURCE, user=user)
        except DatabaseError as exc:  # keep the rest of the demo usable; say what is missing
            self.warnings.append(
                f"life-cycle services failed on this database, every demo user stays ACTIVE: {exc}"
            )

    def manual_resources_on(self) -> None:
        """The MANUAL resources (AWS, Workday) are switched to manual mode once the roles' accesses
        are loaded: the few grants and requests after this give their owners a task each."""
        for code, _name, _criticality, _dept, mode, _entitlements in RESOURCES:
            if mode == MANUAL:
                config.resource_update(
                    actor=self.admin, source=SOURCE, resource=self.resources[code],
                    data={"provisioning_modes": {event: MANUAL for event in ProvisioningEvent.values}},
                )  # fmt: skip

    def approvals_and_requests(self) -> None:
        """Approval policies (seed 002, "Políticas de aprovação") and a few requests waiting for
        them, so the approvers' My tasks has something to decide: two levels (the manager, then
        the owner) for administrative account check-outs; the owner for what is critical; the
        manager for what is sensitive (HIGH)."""
        policies = [
            ("Administrative accounts: manager, then owner", 5, ["CHECKOUT_ADMIN_ACCOUNT"], "",
             ["MANAGER", "OWNER"]),
            ("Critical access: owner approval", 10, ["CREATE_ACCOUNT", "GRANT_ENTITLEMENT", "GRANT_ROLE"], "CRITICAL",
             ["OWNER"]),
            ("Sensitive access: manager approval", 20, ["CREATE_ACCOUNT", "GRANT_ENTITLEMENT", "GRANT_ROLE"], "HIGH",
             ["MANAGER"]),
        ]  # fmt: skip
        for name, priority, types, criticality, levels in policies:
            policy = approval_policy_create(
                actor=self.admin, source=SOURCE, name=name, priority=priority, request_types=types,
                criticality=criticality,
            )  # fmt: skip
            for kind in levels:
                approval_level_add(actor=self.admin, source=SOURCE, policy=policy, approver_kind=kind)
        # what employees asked for this week (workspace requests; the pipeline runs on commit)
        wanted = [
            ("engineering", "github", "maintainers", "Reviewing pull requests for the payments service."),
            ("engineering", "aws", "PowerUserAccess", "Deploying the new data pipeline."),
            ("finance", "sap", "FI_APPROVER", "Covering payment approvals during the CFO's holiday."),
            ("sales", "salesforce", "sales-manager", "Promoted to team lead; needs the team's pipeline."),
            ("it", "o365", "teams-admin", "Managing the Teams rooms of the new office."),
            ("hr", "workday", "payroll", "Year-end payroll run."),
        ]
        for dept, res_code, ent_id, why in wanted:
            entitlement = self.entitlements[(res_code, ent_id)]
            holders = set(
                EntitlementMembership.objects.filter(entitlement=entitlement).values_list(
                    "account__owner", flat=True
                )
            )
            people = [
                u for u in self.people.get(dept, [])
                if u != self.heads.get(dept) and u.manager_id and u.status == "ACTIVE" and u.pk not in holders
            ]  # fmt: skip
            if not people:
                continue
            person = self.rng.choice(people)
            try:
                with transaction.atomic():
                    request_create(
                        actor=person, source="workspace", request_type="GRANT_ENTITLEMENT", beneficiary=person,
                        entitlement=entitlement, justification=why,
                    )  # fmt: skip
            except DomainError as exc:  # e.g. the person already holds it: the demo goes on
                self.warnings.append(f"demo request for {person.username} not made: {exc.message}")

    def role_governance(self) -> None:
        """A birthright policy per department (its people get its staff role, joiners too) and a
        role change waiting for the finance head's approval (seed 004)."""
        for code, name, _share, _titles, _resources in DEPARTMENTS:
            assignment_policy_create(
                actor=self.admin, source=SOURCE, code=f"{code}-birthright", name=f"{name} department",
                role=Role.objects.get(code=f"{code}-staff"), department=name,
                description=f"Everyone in the {name} department holds {name} staff.",
            )  # fmt: skip
        finance = Role.objects.filter(code="finance-staff", owner__isnull=False).first()
        report = (
            Entitlement.objects.exclude(roles=finance).filter(resource__code="sap").first()
            if finance
            else None
        )
        if finance is not None and report is not None:
            access.role_change_submit(
                actor=self.admin, source=SOURCE, role=finance, action="ADD", entitlement=report
            )  # fmt: skip

    def segregation_of_duties(self) -> None:
        """SoD rules (create supplier vs approve payment in SAP, ...), a first scan that finds the
        finance people given "Payment Approver" by hand besides their role's "Accounts Payable
        Clerk", and an exception the finance head grants to one of them."""
        finance_head = self.heads.get("finance")
        rules = [
            ("p2p-supplier-payment", "Create supplier vs approve payment", "CRITICAL", finance_head,
             "Whoever maintains suppliers (AP clerk) must not approve the payments to them.",
             "Monthly review of payments to suppliers created in the same month.",
             [["entitlement:sap/FI_AP_CLERK"], ["entitlement:sap/FI_APPROVER"]]),
            ("hr-payroll", "HR partner vs payroll administration", "HIGH", self.heads.get("hr"),
             "Who changes employee records must not run the payroll.", "",
             [["entitlement:workday/hr-partner"], ["entitlement:workday/payroll"]]),
            ("dev-prod-admin", "Developer vs production administrator", "HIGH", self.heads.get("it"),
             "Developers do not administer the production cloud account.", "",
             [["entitlement:github/owners", "entitlement:github/maintainers"], ["entitlement:aws/AdministratorAccess"]]),
        ]  # fmt: skip
        for code, name, severity, owner, description, controls, sides in rules:
            sod_rule_create(
                actor=self.admin, source=SOURCE, code=code, name=name, severity=severity, owner=owner,
                description=description, mitigating_controls=controls, sides=sides,
                evidence_url="https://grc.atlantico.example/controls/" + code if controls else "",
            )  # fmt: skip
        sod_scan(actor=self.admin, source=SOURCE)
        found = list(
            SoDViolation.objects.filter(rule__code="p2p-supplier-payment", task__isnull=False).order_by("pk")
        )
        if found and finance_head is not None and found[0].user_id != finance_head.pk:
            sod_violation_task_decide(
                actor=finance_head, source=SOURCE, task=found[0].task, decision="approve",
                comment="Two-person AP team until the new hire starts; payments reviewed weekly.",
                exception_expires_at=timezone.now() + timedelta(days=60),
            )  # fmt: skip

    def privileged_access(self) -> None:
        """Privileged access (issue 17): production DBAs, two approval levels, a request per status."""
        head = self.heads.get("it") or self.admin
        assert self.admin is not None
        ids = [u.pk for u in self.people.get("it", []) if u.pk != head.pk]
        dbas = list(User.objects.filter(pk__in=ids, status="ACTIVE").order_by("pk")[:4])
        if len(dbas) < 3:
            self.warnings.append("too few IT people for the privileged-access demo: none loaded")
            return
        load_privileged_demo(admin=self.admin, head=head, dbas=dbas)

    def certification(self) -> None:
        """A quarterly review of the high and critical accesses, by each person's manager (the
        IT head when there is none), running since ten days with a few decisions made: one
        manager kept two accesses and asked to revoke one (a revoke request)."""
        policy = certification_policy_create(
            actor=self.admin, source=SOURCE, code="critical-quarterly", name="High and critical accesses, quarterly",
            description="Managers confirm every high or critical access of their people each quarter.",
            criticalities=["HIGH", "CRITICAL"], reviewer_kind="MANAGER", fallback_reviewer=self.heads.get("it"),
            period_days=90, duration_days=30, undecided_action="KEEP",
        )  # fmt: skip
        campaign = campaign_start(
            actor=self.admin, source=SOURCE, policy=policy, starts_at=timezone.now() - timedelta(days=10)
        )
        busiest = (  # the reviewer with the most items
            CertificationItem.objects.filter(campaign=campaign, reviewer__isnull=False)
            .values("reviewer_id")
            .annotate(n=Count("id"))
            .order_by("-n", "reviewer_id")
            .first()
        )
        reviewer_id = busiest["reviewer_id"] if busiest else None
        if reviewer_id is None:
            return
        reviewer = User.objects.get(pk=reviewer_id)
        ids = list(
            CertificationItem.objects.filter(campaign=campaign, reviewer=reviewer)
            .order_by("pk")
            .values_list("pk", flat=True)[:3]
        )
        items_decide(
            actor=reviewer,
            source=SOURCE,
            items=ids[:2],
            decision="KEEP",
            comment="Needed for the month-end close.",
        )
        if len(ids) > 2:
            items_decide(
                actor=reviewer,
                source=SOURCE,
                items=ids[2:],
                decision="REVOKE",
                comment="Moved to another team.",
            )

    def reconciliation(self) -> None:
        """Two reconciliation profiles (docs/reconciliation.md). "HR export": the HR system's CSV
        export, run once here so every employee is linked to their row; today's export
        (var/reconciliation/hr-export.csv) then brings three joiners, a mover and a leaver for the
        administrator to dry-run and run. "Salesforce accounts": the application's account list,
        run here, leaves two rogue accounts, an orphan and a lost account as tasks to resolve."""
        folder = files_dir()
        folder.mkdir(parents=True, exist_ok=True)
        staff = list(User.objects.filter(organization__isnull=False, status=UserStatus.ACTIVE).order_by("pk"))
        header = "employee_id;first_name;last_name;email;department;job_title\n"

        def line(u: User, **change: str) -> str:
            values = {"employee_id": u.attributes.get("employee_id", ""), "first_name": u.first_name,
                      "last_name": u.last_name, "email": u.email, "department": u.department,
                      "job_title": u.job_title, **change}  # fmt: skip
            return ";".join(str(values[k]) for k in header.strip().split(";")) + "\n"

        (folder / "hr-export.csv").write_text(header + "".join(line(u) for u in staff), encoding="utf-8")
        hr = profile_create(
            actor=self.admin, source=SOURCE, code="hr-export", name="HR export", kind="USERS",
            description="The HR system's nightly CSV export: joiners, movers and leavers.",
            source_type="csv", source_settings={"file": "hr-export.csv", "delimiter": ";"}, key_field="employee_id",
            rules=[{"attribute": "attributes.employee_id", "operator": "EQUALS", "value": "{[employee_id]}"}],
            mappings=[
                {"target": "first_name", "mode": "FIELD", "value": "{[first_name]}"},
                {"target": "last_name", "mode": "FIELD", "value": "{[last_name]}"},
                {"target": "email", "mode": "FIELD", "value": "{[email]}"},
                {"target": "department", "mode": "FIELD", "value": "{[department]}"},
                {"target": "job_title", "mode": "FIELD", "value": "{[job_title]}"},
                {"target": "attributes.employee_id", "mode": "FIELD", "value": "{[employee_id]}"},
            ],
            actions={"MISSING": "INACTIVATE"}, schedule="0 2 * * *",
        )  # fmt: skip
        run_and_execute(actor=self.admin, source=SOURCE, profile=hr)
        mover = staff[-2]  # and staff[-1], left out of today's export, is the leaver
        joiners = [
            ("E90001", "Helena", "Araújo"),
            ("E90002", "Tiago", "Nogueira"),
            ("E90003", "Lívia", "Prado"),
        ]
        today = (
            [line(u) for u in staff[:-2]]
            + [line(mover, job_title="Team Lead")]
            + [
                f"{e};{f};{last};{f.lower()}.{last.lower()}@atlantico.example;Sales;Sales Representative\n"
                for e, f, last in joiners
            ]
        )
        (folder / "hr-export.csv").write_text(header + "".join(today), encoding="utf-8")
        salesforce = self.resources["salesforce"]
        accounts = list(Account.objects.filter(resource=salesforce).select_related("owner").order_by("pk"))
        lost = next(
            a for a in accounts if a.owner is not None and a.status == "ACTIVE"
        )  # gone from Salesforce
        lines = ["identifier,email,enabled"]
        lines += [f"{a.identifier},{a.owner.email if a.owner else ''},true" for a in accounts if a != lost]
        lines += ["temp.sales,temp.sales@gmail.example,true", "partner.acme,ops@acme.example,true"]
        (folder / "salesforce-accounts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        sf = profile_create(
            actor=self.admin, source=SOURCE, code="salesforce-accounts", name="Salesforce accounts",
            kind="ACCOUNTS", resource=salesforce, description="Salesforce's user export, read back weekly.",
            source_type="csv", source_settings={"file": "salesforce-accounts.csv"}, key_field="identifier",
            rules=[
                {"target": "OBJECT", "attribute": "identifier", "operator": "EQUALS", "value": "{[identifier]}"},
                {"target": "OWNER", "attribute": "email", "operator": "IEQUALS", "value": "{[email]}"},
            ],
            mappings=[{"target": "email", "mode": "FIELD", "value": "{[email]}"}],
            actions={"ACCOUNT_OWNER_NOT_FOUND": "MANUAL", "ACCOUNT_FOUND_OWNER_NOT_FOUND": "MANUAL",
                     "MISSING": "MANUAL", "FOUND": "IGNORE"},
        )  # fmt: skip
        run_and_execute(actor=self.admin, source=SOURCE, profile=sf)

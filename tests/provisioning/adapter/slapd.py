"""A real OpenLDAP ``slapd`` for the tests: its own config file, MDB database and port in a
temporary directory (never the system instance), base ``dc=example,dc=test``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import ldap3

BASE = "dc=example,dc=test"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "slapd-test-secret"
PEOPLE, GROUPS, DISABLED = f"ou=people,{BASE}", f"ou=groups,{BASE}", f"ou=disabled,{BASE}"
EMPTY_MEMBER = "cn=nobody"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIRS = (Path("/usr/lib/ldap"), Path("/usr/lib/x86_64-linux-gnu/ldap"), Path("/usr/lib64/openldap"))


def slapd_binary() -> str | None:
    return shutil.which("slapd") or next(
        (p for p in ("/usr/sbin/slapd", "/usr/local/libexec/slapd") if Path(p).exists()), None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Slapd:
    def __init__(self, root: Path, binary: str) -> None:
        self.root, self.binary = root, binary
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        (root / "db").mkdir(parents=True)
        modules = next((d for d in MODULE_DIRS if (d / "back_mdb.so").exists()), None)
        module_lines = f"modulepath {modules}\nmoduleload back_mdb\n" if modules else ""
        (root / "slapd.conf").write_text(
            "".join(f"include {SCHEMA_DIR / s}.schema\n" for s in ("core", "cosine", "inetorgperson", "nis"))
            + module_lines
            + f"pidfile {root / 'slapd.pid'}\nargsfile {root / 'slapd.args'}\n"
            + f'database mdb\nmaxsize 10485760\nsuffix "{BASE}"\nrootdn "{ADMIN_DN}"\n'
            + f"rootpw {ADMIN_PASSWORD}\ndirectory {root / 'db'}\n"
        )

    def start(self) -> None:
        log = (self.root / "slapd.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-f", str(self.root / "slapd.conf"), "-h", f"{self.url}/", "-d", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited: {(self.root / 'slapd.log').read_text()[-2000:]}")
            try:
                self.connection().unbind()
                return
            except ldap3.core.exceptions.LDAPException:
                time.sleep(0.05)
        raise RuntimeError("slapd did not answer within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def connection(self) -> ldap3.Connection:
        return ldap3.Connection(
            ldap3.Server(self.url, connect_timeout=2, get_info=ldap3.NONE),
            ADMIN_DN,
            ADMIN_PASSWORD,
            auto_bind=True,
            receive_timeout=5,
        )

    def seed(self, groups: tuple[str, ...] = ("payments",)) -> None:
        conn = self.connection()
        conn.add(BASE, ["dcObject", "organization"], {"dc": "example", "o": "Example"})
        for ou in (PEOPLE, GROUPS, DISABLED):
            conn.add(ou, ["organizationalUnit"], {"ou": ou.split(",")[0][3:]})
        for group in groups:
            conn.add(f"cn={group},{GROUPS}", ["groupOfNames"], {"cn": group, "member": [EMPTY_MEMBER]})
        conn.unbind()

    # --- reading what the adapter did --------------------------------------------------------
    def entry(self, dn: str, *attributes: str) -> dict | None:
        conn = self.connection()
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes) or ["*"])
        found = conn.entries[0].entry_attributes_as_dict if conn.entries else None
        conn.unbind()
        return found

    def members(self, group: str) -> list[str]:
        found = self.entry(f"cn={group},{GROUPS}", "member")
        return [m for m in (found or {}).get("member", []) if m != EMPTY_MEMBER]


def ldap_settings(slapd: Slapd, **extra: object) -> dict[str, object]:
    """The [connector] table of an adapter config for this slapd."""
    return {
        "type": "ldap",
        "url": slapd.url,
        "bind_dn": ADMIN_DN,
        "password_env": "TEST_LDAP_BIND_PASSWORD",
        "accounts_base": PEOPLE,
        "groups_base": GROUPS,
        "disabled_base": DISABLED,
        "empty_group_member": EMPTY_MEMBER,
        "timeout_seconds": 2,
        **extra,
    }

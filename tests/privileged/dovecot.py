"""A real Dovecot IMAP server for the tests: its own config, passwd-file user, maildir and port in
a temporary directory (never the system instance)."""

from __future__ import annotations

import datetime
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "blazon-replies@example.test", "imap-test-secret"


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if Path(p).exists()), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_certificates(root: Path) -> Path:
    """A test CA (``ca.pem``, returned) and a server certificate for 127.0.0.1 signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Blazon test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (root / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return root / "ca.pem"


class Dovecot:
    def __init__(self, binary: str) -> None:
        # dovecot's auth and mail processes run as unprivileged users: they must reach the files
        self.root = Path(tempfile.mkdtemp(prefix="blazon-dovecot-"))
        self.root.chmod(0o755)
        self.binary, self.port, self.tls_port = binary, free_port(), free_port()
        self.ca_file = write_certificates(self.root)
        self.process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:  # dovecot refuses to run mail as root: use its own user
            owner = pwd.getpwnam("dovecot")
            uid, gid = owner.pw_uid, owner.pw_gid
        else:
            uid, gid = os.getuid(), os.getgid()
        mail = self.root / "mail"
        mail.mkdir()
        os.chown(mail, uid, gid)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        (self.root / "dovecot.conf").write_text(
            f"""protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = blazon-test-{self.port}
log_path = {self.root}/dovecot.log
ssl = yes
ssl_cert = <{self.root}/cert.pem
ssl_key = <{self.root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
mail_location = maildir:{mail}/%u/Maildir
first_valid_uid = {uid}
first_valid_gid = {gid}
namespace inbox {{
  inbox = yes
  mailbox Done {{
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
"""
        )

    def start(self) -> None:
        log = (self.root / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.root / "dovecot.conf")], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {(self.root / 'stdout.log').read_text()[-2000:]}")
            try:
                self.connect().logout()
                return
            except (OSError, imaplib.IMAP4.error):
                time.sleep(0.1)
        raise RuntimeError("dovecot did not answer within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, mailbox: str = "INBOX") -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=5)
        imap.login(USER, PASSWORD)
        imap.select(mailbox)
        return imap

    def deliver(self, raw: bytes) -> None:
        """Put a message in the inbox, unseen (what the MTA does on delivery)."""
        imap = self.connect()
        try:
            status, _ = imap.append("INBOX", None, None, raw)
            assert status == "OK"
        finally:
            imap.logout()

    def flags(self, mailbox: str = "INBOX") -> list[str]:
        """The flags of every message in ``mailbox``, in order ("" for none)."""
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=5)
        try:
            imap.login(USER, PASSWORD)
            _, count = imap.select(mailbox, readonly=True)
            if not int(count[0] or 0):
                return []
            _, data = imap.fetch("1:*", "(FLAGS)")
            found = [part.decode() for part in data if isinstance(part, bytes)]
            return [f.split("FLAGS (", 1)[1].split(")", 1)[0] for f in found]
        finally:
            imap.logout()

    def empty(self) -> None:
        for mailbox in ("INBOX", "Done"):
            imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=5)
            try:
                imap.login(USER, PASSWORD)
                _, count = imap.select(mailbox)
                if int(count[0] or 0):
                    imap.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                    imap.expunge()
            finally:
                imap.logout()

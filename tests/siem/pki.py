"""A throw-away PKI for the SIEM tests: a CA, a server certificate for 127.0.0.1/localhost and
a client certificate, written as PEM files in a directory."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Pki:
    ca_pem: str
    server_cert_pem: str
    server_key_pem: str
    client_cert_pem: str
    client_key_pem: str
    other_ca_pem: str  # a CA that signed nothing here (verification must fail with it)

    def write(self, directory: Path) -> dict[str, Path]:
        files = {
            "ca": directory / "ca.pem",
            "cert": directory / "server.pem",
            "key": directory / "server.key",
        }
        files["ca"].write_text(self.ca_pem)
        files["cert"].write_text(self.server_cert_pem)
        files["key"].write_text(self.server_key_pem)
        return files


def _ca(name: str, now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, name: str, usage, now, sans=()
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def make_pki() -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca = _ca("Blazon SIEM test CA", now)
    sans = (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server_key, server = _leaf(ca_key, ca, "localhost", ExtendedKeyUsageOID.SERVER_AUTH, now, sans)
    client_key, client = _leaf(ca_key, ca, "blazon", ExtendedKeyUsageOID.CLIENT_AUTH, now)
    _, other = _ca("Some other CA", now)
    return Pki(
        ca_pem=_cert_pem(ca),
        server_cert_pem=_cert_pem(server),
        server_key_pem=_key_pem(server_key),
        client_cert_pem=_cert_pem(client),
        client_key_pem=_key_pem(client_key),
        other_ca_pem=_cert_pem(other),
    )

"""SAML responses signed per second: what the IdP does for every sign-in once the user is known
(build the Response and its Assertion, sign both, serialise), per RSA key size, with the signer
of ``--signer``: ``inprocess`` (the default, the xmlsec binding) or ``xmlsec1`` (pysaml2 and
the binary, the fallback).

Two figures per key size: "cold" builds the pysaml2 IdP object for the SP and then signs (the
first sign-in to an SP after a process start, a key rotation or an edit of the SP); "cached"
reuses it, as ``sso.idp.server_for`` does for every other sign-in. No database: the SP
configuration is an unsaved row and the key pair is generated in a private temporary directory.

    .venv/bin/python -m tests.bench.saml_sign --responses 50 --key-sizes 2048,3072
    .venv/bin/python -m tests.bench.saml_sign --responses 50 --signer xmlsec1
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import tempfile
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()

from sso import idp, keys  # noqa: E402
from sso.models import BINDING_POST, AccessRule, NameIDFormat, ServiceProvider  # noqa: E402

ACS = "https://sp.example.test/acs"


def _signing(directory: str, key_size: int) -> keys.SigningKey:
    key_pem, cert_pem, _, _ = keys._new_key_material(key_size)
    key_file, cert_file = (
        os.path.join(directory, f"{key_size}.key"),
        os.path.join(directory, f"{key_size}.crt"),
    )
    keys._write_private(key_file, key_pem)
    keys._write_private(cert_file, cert_pem)
    return keys.SigningKey(key_id=key_size, key_file=key_file, cert_file=cert_file, certificate=cert_pem)


def _sp() -> ServiceProvider:
    return ServiceProvider(
        name="Bench SP",
        entity_id="https://sp.example.test/metadata",
        acs_endpoints=[{"url": ACS, "binding": BINDING_POST, "index": 0}],
        nameid_format=NameIDFormat.PERSISTENT,
        attribute_mapping={"mail": "email", "givenName": "first_name", "sn": "last_name"},
        access_rule=AccessRule.ANY_ACTIVE_USER,
    )


def _run(n: int, make_server) -> tuple[float, list[float]]:
    sp = _sp()
    attrs = {"mail": ["alice@example.com"], "givenName": ["Alice"], "sn": ["Souza"]}
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        server = make_server(sp)
        xml = idp.build_response(
            server, sp, in_response_to=f"_req{i}", destination=ACS, name_id=f"opaque-{i}", attributes=attrs
        )
        assert len(re.findall(r"<\w+:Signature[ >]", xml)) == 2
        latencies.append(time.perf_counter() - t0)
    return n / (time.perf_counter() - start), latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=50)
    parser.add_argument("--key-sizes", default="2048,3072")
    parser.add_argument("--signer", choices=idp.SIGNERS, default="inprocess")
    args = parser.parse_args()
    settings.BLAZON_SAML_SIGNER = args.signer
    print(
        f"# SAML response signing ({args.signer}), {args.responses} responses per run, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print("| key | signer | mode | responses/s | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for size in (int(s) for s in args.key_sizes.split(",")):
            signing = _signing(directory, size)
            shared = idp.server_for(_sp(), None, signing=signing)
            for mode, factory in (
                (
                    "cold (builds the IdP object)",
                    lambda sp, signing=signing: idp.server_for(sp, None, signing=signing),
                ),
                ("cached IdP object", lambda sp, shared=shared: shared),
            ):
                _run(2, factory)  # warm-up
                rate, lat = _run(args.responses, factory)
                lat.sort()
                p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
                print(
                    f"| RSA {size} | {args.signer} | {mode} | {rate:.1f} | {statistics.median(lat) * 1000:.1f} | {p95 * 1000:.1f} |"
                )


if __name__ == "__main__":
    main()

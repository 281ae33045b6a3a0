"""HTTPS: `faas serve --tls-cert --tls-key`, with clients that trust a private CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.server import FAAS, REGION, clean_env, free_port, make_zip, read_credentials

HELLO = "def handler(event, context):\n    return {'over': 'tls'}\n"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1, made for the test."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("faas test CA"))
        .issuer_name(_name("faas test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


def wait_for_https(url: str, ca: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"faas serve exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2, context=context) as answer:
                assert json.load(answer) == {"status": "ok"}
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"no HTTPS answer:\n{log.read_text()}")


def test_https_with_boto3_and_the_cli_trusting_a_private_ca(tmp_path: Path) -> None:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    log = tmp_path / "server.log"
    argv = [*FAAS, "serve", "--port", str(port), "--data-dir", str(data_dir)]
    argv += ["--tls-cert", str(cert), "--tls-key", str(key)]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=clean_env())
    try:
        wait_for_https(url, ca, process, log)
        assert f"listening on {url}" in log.read_text()
        admin = read_credentials(data_dir / "credentials")

        def client(verify: str | bool) -> Any:
            return boto3.client(
                "lambda",
                endpoint_url=url,
                region_name=REGION,
                aws_access_key_id=admin.access_key_id,
                aws_secret_access_key=admin.secret,
                verify=verify,
                config=Config(retries={"max_attempts": 1}),
            )

        trusting = client(str(ca))
        trusting.create_function(
            FunctionName="tls",
            Runtime=f"python{sys.version_info.major}.{sys.version_info.minor}",
            Role="arn:aws:iam::000000000000:role/r",
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": HELLO})},
        )
        answer = trusting.invoke(FunctionName="tls", Payload=b"{}")
        assert json.loads(answer["Payload"].read()) == {"over": "tls"}
        with pytest.raises(SSLError):
            client(True).list_functions()

        env = clean_env({"FAAS_SERVER_DATA_DIR": str(data_dir), "FAAS_CA_BUNDLE": str(ca)})
        cli = subprocess.run(
            [*FAAS, "--url", url, "invoke", "tls"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout) == {"over": "tls"}
        untrusting = subprocess.run(
            [*FAAS, "--url", url, "ls"],
            capture_output=True,
            text=True,
            env=clean_env({"FAAS_SERVER_DATA_DIR": str(data_dir)}),
            timeout=60,
            check=False,
        )
        assert untrusting.returncode == 1
        assert "FAAS_CA_BUNDLE" in untrusting.stderr and len(untrusting.stderr.splitlines()) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_a_key_without_its_certificate_is_refused_at_start(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            *FAAS,
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "d"),
            "--tls-cert",
            str(tmp_path / "missing.pem"),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith("error: server.tls_cert and server.tls_key go together")

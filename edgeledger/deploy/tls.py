"""Optional TLS for a cluster: a self-signed cluster CA and certificates it issues (``edgeledger certs``).

Every process serves HTTPS with its certificate and trusts only the cluster CA, so the
transport is authenticated and encrypted; message signatures and envelopes still apply on top.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edgeledger.errors import ConfigError

__all__ = ["make_ca", "issue_certificate", "server_context", "client_context"]

VALID_DAYS = 825


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edgeledger cluster"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def make_ca(directory: Path) -> Path:
    """Create ``ca.pem`` / ``ca.key`` in ``directory`` (kept if they exist); returns the CA path."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        return cert_path
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("edgeledger cluster CA")).issuer_name(_name("edgeledger cluster CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def issue_certificate(directory: Path, name: str, hosts: list[str]) -> Path:
    """Issue ``<name>.pem`` / ``<name>.key`` for ``hosts`` (IPs or DNS names), signed by the cluster CA."""
    try:
        ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"no cluster CA in {str(directory)!r}: run `edgeledger certs --dir {directory}` first") from None
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    _write_key(directory / f"{name}.key", key)
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def server_context(directory: Path, name: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(directory / f"{name}.pem", directory / f"{name}.key")
    except FileNotFoundError:
        raise ConfigError(f"no certificate {name!r} in {str(directory)!r}: run `edgeledger certs --dir {directory} "
                          f"--name {name} --host HOST`") from None
    return ctx


def client_context(directory: Path) -> ssl.SSLContext:
    """Trust exactly the cluster CA (not the system store)."""
    ctx = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    return ctx

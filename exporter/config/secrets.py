"""Secrets and key material: the `Secret` mask, `*_file` reading, private keys checked against certificates.

Messages here describe a file and what is wrong with it, never its content.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from exporter.errors import ConfigError

if TYPE_CHECKING:  # schema imports Secret from here
    from exporter.config.schema import AuthConfig


class Secret:
    """A string that never shows itself: `repr`, `str` and f-strings print a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def read_bytes(file: Path, key: str) -> bytes:
    """A file a config key names, as bytes; failures name the key and the file."""
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {file}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the path
        raise ConfigError(f"{key}: not a usable file name") from None


def read_secret(base_dir: Path, path: str, key: str) -> str:
    """A `*_file` secret: UTF-8 text without surrounding white space, and not empty."""
    file = base_dir / path
    try:
        text = read_bytes(file, key).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: {file} is not UTF-8 text") from None
    # A trailing newline from `echo` or an editor is never part of a secret.
    text = text.strip()
    if not text:
        raise ConfigError(f"{key}: {file} is empty")
    return text


def resolve_auth(auth: AuthConfig, base_dir: Path) -> AuthConfig:
    """Check that exactly one credential is given, and read it (and its certificate) from its files."""
    secret = auth.client_secret
    chosen = [
        k
        for k, v in (
            ("client_secret", secret),
            ("client_secret_file", auth.client_secret_file),
            ("private_key_file", auth.private_key_file),
        )
        if v
    ]
    if len(chosen) != 1:
        raise ConfigError(
            "auth: set exactly one of client_secret, client_secret_file or private_key_file"
            + (f" (found {', '.join(chosen)})" if chosen else "")
        )
    if auth.client_secret_file:
        secret = Secret(read_secret(base_dir, auth.client_secret_file, "auth.client_secret_file"))
    key_pem: Secret | None = None
    thumbprint = auth.certificate_thumbprint.replace(":", "").lower()
    if auth.private_key_file:
        key_pem = Secret(read_secret(base_dir, auth.private_key_file, "auth.private_key_file"))
        thumbprint = _check_certificate(base_dir, auth, key_pem, thumbprint)
    elif auth.certificate_file or auth.certificate_thumbprint:
        raise ConfigError("auth: certificate_file and certificate_thumbprint need private_key_file")
    return dataclasses.replace(auth, client_secret=secret, private_key_pem=key_pem, certificate_thumbprint=thumbprint)


def _check_certificate(base_dir: Path, auth: AuthConfig, key_pem: Secret, thumbprint: str) -> str:
    """Prove the key parses and matches its certificate; return the certificate's SHA-1 thumbprint."""
    try:
        key = serialization.load_pem_private_key(key_pem.get().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError("auth.private_key_file: not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("auth.private_key_file: must be an RSA key (AvePoint signs with RS256)")
    if auth.certificate_file:
        pem = read_secret(base_dir, auth.certificate_file, "auth.certificate_file").encode()
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise ConfigError("auth.certificate_file: not a PEM certificate") from None
        if cert.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
            raise ConfigError("auth.certificate_file: the certificate does not match private_key_file")
        der = cert.public_bytes(serialization.Encoding.DER)
        actual = hashlib.sha1(der, usedforsecurity=False).hexdigest()
        if thumbprint and thumbprint != actual:
            raise ConfigError("auth.certificate_thumbprint: does not match certificate_file")
        return actual
    if len(thumbprint) != 40 or any(c not in "0123456789abcdef" for c in thumbprint):
        raise ConfigError("auth: a certificate needs certificate_file or certificate_thumbprint (40 hex digits, SHA-1)")
    return thumbprint


def check_tls_pair(cert_path: Path, cert_pem: bytes, key_path: Path, key_pem: bytes, where: str) -> datetime.datetime:
    """Clear messages for the usual mistakes, before OpenSSL gives its terser ones; the certificate's expiry."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise ConfigError(f"{where}.cert_file: {cert_path} holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ConfigError(f"{where}.key_file: {key_path} is encrypted; give an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{where}.key_file: {key_path} holds no PEM private key") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if chain[0].public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise ConfigError(f"{where}.key_file: does not match the (first) certificate in cert_file")
    return chain[0].not_valid_after_utc


def check_certificates(path: Path, pem: bytes, key: str) -> None:
    """A bundle of CA certificates."""
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ConfigError(f"{key}: {path} holds no PEM certificate") from None

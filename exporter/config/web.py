"""The web config file (`--web.config.file`, exporter-toolkit format) to a WebSecurity: TLS, basic auth, headers.

Read and checked like the main config (`document`): the same YAML reader, the same unknown-key and type
messages naming the key path; each message is prefixed with the file's name.
"""

from __future__ import annotations

import datetime
import logging
import re
import ssl
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex  # the standard library's, not exporter.config.secrets
from typing import Any

import bcrypt

from exporter.config import document
from exporter.config.secrets import Secret, check_certificates, check_tls_pair, read_bytes
from exporter.errors import ConfigError

log = logging.getLogger(__name__)

# Go's crypto/tls client auth policies, as exporter-toolkit spells them, mapped to what OpenSSL can do.
NO_CLIENT_CERT = "NoClientCert"
REQUEST_CLIENT_CERT = "RequestClientCert"
REQUIRE_ANY_CLIENT_CERT = "RequireAnyClientCert"
VERIFY_CLIENT_CERT_IF_GIVEN = "VerifyClientCertIfGiven"
REQUIRE_AND_VERIFY_CLIENT_CERT = "RequireAndVerifyClientCert"
CLIENT_AUTH_TYPES = (
    NO_CLIENT_CERT,
    REQUEST_CLIENT_CERT,
    REQUIRE_ANY_CLIENT_CERT,
    VERIFY_CLIENT_CERT_IF_GIVEN,
    REQUIRE_AND_VERIFY_CLIENT_CERT,
)
_VERIFY_MODES = {
    # A certificate that is requested but never verified grants nothing, so not asking for it is the
    # same policy; Python's ssl module cannot request a certificate without verifying it.
    NO_CLIENT_CERT: ssl.CERT_NONE,
    REQUEST_CLIENT_CERT: ssl.CERT_NONE,
    VERIFY_CLIENT_CERT_IF_GIVEN: ssl.CERT_OPTIONAL,
    REQUIRE_AND_VERIFY_CLIENT_CERT: ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}

# The headers exporter-toolkit lets a web config add, with the values it accepts (empty: any value).
# Everything else (Content-Type, Content-Length, WWW-Authenticate, Set-Cookie, ...) is the server's.
EXTRA_HEADERS: Mapping[str, tuple[str, ...]] = types.MappingProxyType(
    {
        "Strict-Transport-Security": (),
        "X-Content-Type-Options": ("nosniff",),
        "X-Frame-Options": ("deny", "sameorigin"),
        "X-XSS-Protection": (),
        "Content-Security-Policy": (),
    }
)

_BCRYPT = re.compile(r"\$2[abxy]\$(\d\d)\$[./A-Za-z0-9]{53}")

# exporter-toolkit keys this exporter does not implement. A non-empty value is refused rather than
# ignored, because ignoring e.g. client_allowed_sans would let in clients the file means to keep out.
_UNSUPPORTED = {
    "tls_server_config": {
        "cert": "inline PEM is not supported; put the certificate in a file and set cert_file",
        "key": "inline PEM is not supported; put the key in a file and set key_file",
        "client_ca": "inline PEM is not supported; put the CA certificates in a file and set client_ca_file",
        "client_allowed_sans": "not supported; give the exporter a client CA that signs only Prometheus' certificate",
        "cipher_suites": "not supported; OpenSSL's forward-secret AEAD defaults apply",
        "curve_preferences": "not supported; OpenSSL's defaults apply",
    },
    "": {
        "rate_limit": "not supported; web.max_connections in the main config bounds concurrent connections",
    },
}


@dataclass(frozen=True)
class TLSServerConfig:
    """`tls_server_config`, with paths already resolved against the web config file's folder."""

    cert_file: Path
    key_file: Path
    client_auth_type: str = NO_CLIENT_CERT
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True


@dataclass(frozen=True)
class WebSecurity:
    """What a web config file asks for. The default (no file) is plain HTTP without authentication."""

    source: str = ""
    tls: TLSServerConfig | None = None
    # Extra response headers, in file order, names in their canonical spelling.
    headers: tuple[tuple[str, str], ...] = ()
    # User name -> bcrypt hash (a secret: knowing it allows an offline guess of the password).
    users: Mapping[str, Secret] = field(default_factory=lambda: types.MappingProxyType({}))
    # Built by load(): the server context (new connections use it) and a hash of a random password
    # at the users' highest cost, checked for unknown users so they cost as much as a wrong password.
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    dummy_hash: bytes = field(default=b"", compare=False, repr=False)

    @property
    def auth_required(self) -> bool:
        return bool(self.users)


def load(path: str | Path) -> WebSecurity:
    """Read and validate a web config file; every file it names is read and checked now."""
    path = Path(path)
    data = document.read_mapping(path, "web config file")
    try:
        return from_mapping(data, path.parent, str(path))
    except ConfigError as exc:
        raise ConfigError(f"web config file {path}: {exc}") from None


def from_mapping(data: object, base_dir: Path, source: str = "") -> WebSecurity:
    """Validate parsed YAML. Errors name the key (the caller adds the file name)."""
    top = _mapping(document.top_level(data), "", ("tls_server_config", "http_server_config", "basic_auth_users"))
    tls = _tls(top.get("tls_server_config"), base_dir)
    headers = _http(top.get("http_server_config"))
    users = _users(top.get("basic_auth_users"))
    context = _context(tls) if tls is not None else None
    dummy = b""
    if users:
        cost = max(int(h.get()[4:6]) for h in users.values())
        dummy = bcrypt.hashpw(token_hex(16).encode(), bcrypt.gensalt(rounds=cost))
    return WebSecurity(
        source=source,
        tls=tls,
        headers=headers,
        users=types.MappingProxyType(users),
        ssl_context=context,
        dummy_hash=dummy,
    )


def _mapping(raw: object, where: str, known: tuple[str, ...]) -> dict[str, Any]:
    """A section, where exporter-toolkit's keys that this exporter does not implement are known but refused."""
    data = document.mapping(raw, where, (*known, *_UNSUPPORTED.get(where, {})))
    for key, reason in _UNSUPPORTED.get(where, {}).items():
        if data.get(key) not in (None, "", [], {}):
            raise ConfigError(f"{document.key(where, key)}: {reason}")
    return data


def _choice(raw: object, key: str, choices: tuple[str, ...] | list[str], default: str) -> str:
    return document.choice(document.string(raw, key) or default, key, choices)


@dataclass(frozen=True)
class _File:
    path: Path
    content: bytes


def _file(base_dir: Path, raw: object, key: str) -> _File | None:
    """A file the key names, read now: one that is missing fails here, before the keys after it."""
    value = document.string(raw, key)
    if not value:
        return None
    path = base_dir / value
    return _File(path, read_bytes(path, key))


def _tls(raw: object, base_dir: Path) -> TLSServerConfig | None:
    where = "tls_server_config"
    data = _mapping(
        raw,
        where,
        (
            "cert_file",
            "key_file",
            "client_auth_type",
            "client_ca_file",
            "min_version",
            "max_version",
            "prefer_server_cipher_suites",
        ),
    )
    if not data:
        return None
    cert = _file(base_dir, data.get("cert_file"), f"{where}.cert_file")
    key = _file(base_dir, data.get("key_file"), f"{where}.key_file")
    if cert is None:
        raise ConfigError(f"{where}.cert_file: required when tls_server_config is set")
    if key is None:
        raise ConfigError(f"{where}.key_file: required when tls_server_config is set")
    auth = _choice(data.get("client_auth_type"), f"{where}.client_auth_type", CLIENT_AUTH_TYPES, NO_CLIENT_CERT)
    if auth == REQUIRE_ANY_CLIENT_CERT:
        raise ConfigError(
            f"{where}.client_auth_type: RequireAnyClientCert (any certificate, never verified) is not supported: "
            "it lets in a certificate anyone can make; use RequireAndVerifyClientCert with client_ca_file"
        )
    ca = _file(base_dir, data.get("client_ca_file"), f"{where}.client_ca_file")
    if auth in (VERIFY_CLIENT_CERT_IF_GIVEN, REQUIRE_AND_VERIFY_CLIENT_CERT) and ca is None:
        raise ConfigError(f"{where}.client_ca_file: required with client_auth_type {auth}")
    if auth in (NO_CLIENT_CERT, REQUEST_CLIENT_CERT) and ca is not None:
        raise ConfigError(
            f"{where}.client_ca_file: set, but client_auth_type {auth} never checks client certificates "
            f"(use {REQUIRE_AND_VERIFY_CLIENT_CERT})"
        )
    versions = list(TLS_VERSIONS)
    low = _choice(data.get("min_version"), f"{where}.min_version", versions, "TLS12")
    high = _choice(data.get("max_version"), f"{where}.max_version", versions, "TLS13")
    if TLS_VERSIONS[low] > TLS_VERSIONS[high]:
        raise ConfigError(f"{where}.min_version: {low} is above max_version {high}")
    prefer = document.boolean(data.get("prefer_server_cipher_suites", True), f"{where}.prefer_server_cipher_suites")
    expires = check_tls_pair(cert.path, cert.content, key.path, key.content, where)
    if expires < datetime.datetime.now(datetime.UTC):
        # Only a warning: refusing it would stop a restart, and the clients may still accept it.
        log.warning("TLS certificate has expired", extra={"file": str(cert.path), "not_after": expires.isoformat()})
    if ca is not None:
        check_certificates(ca.path, ca.content, f"{where}.client_ca_file")
    return TLSServerConfig(cert.path, key.path, auth, ca.path if ca else None, low, high, prefer)


def _context(tls: TLSServerConfig) -> ssl.SSLContext:
    where = "tls_server_config"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[tls.min_version]
    ctx.maximum_version = TLS_VERSIONS[tls.max_version]
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    # HTTP/1.1 only: advertising h2 would make clients that support it fail.
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except ssl.SSLError as exc:
        raise ConfigError(f"{where}.cert_file: OpenSSL refused the certificate and key: {exc.reason}") from None
    ctx.verify_mode = _VERIFY_MODES[tls.client_auth_type]
    if tls.client_ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as exc:
            raise ConfigError(f"{where}.client_ca_file: OpenSSL refused it: {exc.reason}") from None
    return ctx


def _http(raw: object) -> tuple[tuple[str, str], ...]:
    where = "http_server_config"
    data = _mapping(raw, where, ("headers", "http2"))
    if data.get("http2") is not None:
        document.boolean(data["http2"], f"{where}.http2")  # accepted, HTTP/1.1 only
    headers = document.mapping_of(data.get("headers"), f"{where}.headers", "header name to value")
    canonical = {name.lower(): name for name in EXTRA_HEADERS}
    out: list[tuple[str, str]] = []
    for name, value in headers.items():
        key = f"{where}.headers.{name}"
        known = canonical.get(str(name).lower())
        if known is None:
            raise ConfigError(f"{key}: this header can not be configured (allowed: {', '.join(EXTRA_HEADERS)})")
        text = document.string(value, key)
        if any(c in text for c in "\r\n\0"):
            raise ConfigError(f"{key}: the value must be one line")
        if not text:
            continue  # exporter-toolkit: unset if blank
        allowed = EXTRA_HEADERS[known]
        if allowed and text.lower() not in allowed:
            raise ConfigError(f"{key}: must be one of {', '.join(allowed)}, not {text!r}")
        out.append((known, text))
    return tuple(out)


def _users(raw: object) -> dict[str, Secret]:
    where = "basic_auth_users"
    users: dict[str, Secret] = {}
    for name, value in document.mapping_of(raw, where, "user name to bcrypt hash").items():
        user = str(name)
        key = f"{where}.{user}"
        if not user or ":" in user or any(ord(c) < 32 for c in user):
            raise ConfigError(f"{where}: user name {user!r} can not be sent in basic auth (empty, ':' or control)")
        # The value is a secret: messages describe it, never repeat it.
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a bcrypt hash string, not {document.kind(value)}")
        match = _BCRYPT.fullmatch(value.strip())
        if match is None:
            raise ConfigError(
                f"{key}: not a bcrypt hash (expected $2y$, $2b$ or $2a$, a cost and 53 characters; "
                "make one with htpasswd -nBC 10 '' | tr -d ':\\n')"
            )
        if not 4 <= int(match.group(1)) <= 31:
            raise ConfigError(f"{key}: bcrypt cost must be between 4 and 31")
        users[user] = Secret(value.strip())
    return users


__all__ = ["CLIENT_AUTH_TYPES", "EXTRA_HEADERS", "TLSServerConfig", "WebSecurity", "from_mapping", "load"]

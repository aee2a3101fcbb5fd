"""The web config file (exporter-toolkit format): what loads, and errors that name the key."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import bcrypt
import pytest
from cryptography.hazmat.primitives import serialization

from exporter import cli, config
from exporter.config import web as webconfig
from exporter.errors import ConfigError
from tests.support.pki import Pki, bcrypt_hash


def write_web(directory: Path, text: str, name: str = "web.yml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_full_file_loads_with_paths_relative_to_it(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = pki.ca.parent
    alice = bcrypt_hash("wonderland")
    path = write_web(
        folder,
        "tls_server_config:\n"
        "  cert_file: server.pem\n  key_file: server.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.pem\n"
        "  min_version: TLS13\n"
        "http_server_config:\n  http2: false\n  headers:\n"
        "    X-Frame-Options: deny\n    x-content-type-options: nosniff\n    Strict-Transport-Security: max-age=3600\n"
        f"basic_auth_users:\n  alice: '{alice}'\n",
        "full.yml",
    )
    monkeypatch.chdir(tmp_path)  # relative paths follow the file, not the working directory
    security = webconfig.load(path)
    assert security.tls is not None
    assert security.tls.cert_file.resolve() == pki.server.cert.resolve()
    assert security.tls.client_ca_file is not None
    assert security.tls.client_ca_file.resolve() == pki.client_ca.resolve()
    assert security.headers == (
        ("X-Frame-Options", "deny"),
        ("X-Content-Type-Options", "nosniff"),
        ("Strict-Transport-Security", "max-age=3600"),
    )
    assert list(security.users) == ["alice"] and security.auth_required
    context = security.ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert bcrypt.checkpw(b"anything", security.dummy_hash) is False
    assert alice not in repr(security)  # the hashes are secrets too


def test_empty_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    security = webconfig.load(write_web(tmp_path, ""))
    assert security.tls is None and security.ssl_context is None
    assert not security.auth_required and security.headers == ()
    assert webconfig.load(write_web(tmp_path, "tls_server_config: {}\n")).tls is None


@pytest.mark.parametrize(
    ("auth", "mode"),
    [
        ("NoClientCert", ssl.CERT_NONE),
        ("RequestClientCert", ssl.CERT_NONE),
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
        ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED),
    ],
)
def test_client_auth_types(pki: Pki, auth: str, mode: ssl.VerifyMode) -> None:
    ca = "  client_ca_file: client-ca.pem\n" if "Verify" in auth else ""
    path = write_web(
        pki.ca.parent,
        f"tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: {auth}\n{ca}",
        f"auth-{auth}.yml",
    )
    context = webconfig.load(path).ssl_context
    assert context is not None and context.verify_mode == mode
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2  # the default


# Bad web configs as files, each with the exact message after `web config file <name>: `. Each is loaded
# from a folder with the test PKI's files (server.pem, server.key, client.key, client-ca.pem) beside it.
TESTDATA = Path(__file__).parent / "testdata"
BAD_WEB_CONFIGS = {
    # The file's shape
    "invalid-web-yaml-syntax.yml": "YAML syntax error at line 2, column 12: mapping values are not allowed here",
    "invalid-web-top-level-list.yml": "the top level must be a mapping of keys, not a list",
    "invalid-web-section-not-mapping.yml": "tls_server_config: must be a mapping, not a list",
    "invalid-web-unknown-key.yml": (
        "unknown key nope (known here: basic_auth_users, http_server_config, rate_limit, tls_server_config)"
    ),
    "invalid-web-tls-unknown-key.yml": (
        "unknown key tls_server_config.bogus (known here: cert, cert_file, cipher_suites, client_allowed_sans, "
        "client_auth_type, client_ca, client_ca_file, curve_preferences, key, key_file, max_version, min_version, "
        "prefer_server_cipher_suites)"
    ),
    "invalid-web-http-unknown-key.yml": "unknown key http_server_config.extra (known here: headers, http2)",
    # exporter-toolkit keys this exporter refuses rather than ignores
    "invalid-web-rate-limit.yml": (
        "rate_limit: not supported; web.max_connections in the main config bounds concurrent connections"
    ),
    "invalid-web-cipher-suites.yml": (
        "tls_server_config.cipher_suites: not supported; OpenSSL's forward-secret AEAD defaults apply"
    ),
    "invalid-web-curve-preferences.yml": "tls_server_config.curve_preferences: not supported; OpenSSL's defaults apply",
    "invalid-web-client-allowed-sans.yml": (
        "tls_server_config.client_allowed_sans: not supported; "
        "give the exporter a client CA that signs only Prometheus' certificate"
    ),
    "invalid-web-inline-cert.yml": (
        "tls_server_config.cert: inline PEM is not supported; put the certificate in a file and set cert_file"
    ),
    "invalid-web-inline-key.yml": (
        "tls_server_config.key: inline PEM is not supported; put the key in a file and set key_file"
    ),
    "invalid-web-inline-client-ca.yml": (
        "tls_server_config.client_ca: inline PEM is not supported; "
        "put the CA certificates in a file and set client_ca_file"
    ),
    # tls_server_config
    "invalid-web-cert-file-required.yml": "tls_server_config.cert_file: required when tls_server_config is set",
    "invalid-web-key-file-required.yml": "tls_server_config.key_file: required when tls_server_config is set",
    "invalid-web-cert-file-not-string.yml": "tls_server_config.cert_file: must be a string, not a list",
    "invalid-web-cert-file-missing.yml": (
        "tls_server_config.cert_file: cannot read missing.pem: No such file or directory"
    ),
    "invalid-web-cert-file-not-certificate.yml": "tls_server_config.cert_file: server.key holds no PEM certificate",
    "invalid-web-key-file-not-key.yml": "tls_server_config.key_file: server.pem holds no PEM private key",
    "invalid-web-key-mismatch.yml": ("tls_server_config.key_file: does not match the (first) certificate in cert_file"),
    "invalid-web-client-auth-type.yml": (
        "tls_server_config.client_auth_type: must be one of NoClientCert, RequestClientCert, RequireAnyClientCert, "
        "VerifyClientCertIfGiven, RequireAndVerifyClientCert, not 'Maybe'"
    ),
    "invalid-web-require-any-client-cert.yml": (
        "tls_server_config.client_auth_type: RequireAnyClientCert (any certificate, never verified) is not "
        "supported: it lets in a certificate anyone can make; use RequireAndVerifyClientCert with client_ca_file"
    ),
    "invalid-web-client-ca-required.yml": (
        "tls_server_config.client_ca_file: required with client_auth_type RequireAndVerifyClientCert"
    ),
    "invalid-web-client-ca-unused.yml": (
        "tls_server_config.client_ca_file: set, but client_auth_type NoClientCert never checks client certificates "
        "(use RequireAndVerifyClientCert)"
    ),
    "invalid-web-client-ca-not-certificate.yml": (
        "tls_server_config.client_ca_file: server.key holds no PEM certificate"
    ),
    "invalid-web-min-version.yml": "tls_server_config.min_version: must be one of TLS12, TLS13, not 'TLS10'",
    "invalid-web-min-above-max.yml": "tls_server_config.min_version: TLS13 is above max_version TLS12",
    "invalid-web-prefer-server-cipher-suites.yml": (
        "tls_server_config.prefer_server_cipher_suites: must be true or false, not 'maybe'"
    ),
    # http_server_config
    "invalid-web-http2.yml": "http_server_config.http2: must be true or false, not 'sometimes'",
    "invalid-web-headers-not-mapping.yml": (
        "http_server_config.headers: must be a mapping of header name to value, not a list"
    ),
    "invalid-web-header-content-type.yml": (
        "http_server_config.headers.Content-Type: this header can not be configured (allowed: "
        "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy)"
    ),
    "invalid-web-header-www-authenticate.yml": (
        "http_server_config.headers.WWW-Authenticate: this header can not be configured (allowed: "
        "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy)"
    ),
    "invalid-web-header-value.yml": (
        "http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin, not 'allow'"
    ),
    "invalid-web-header-not-string.yml": (
        "http_server_config.headers.Strict-Transport-Security: must be a string, not int"
    ),
    "invalid-web-header-two-lines.yml": (
        "http_server_config.headers.Content-Security-Policy: the value must be one line"
    ),
    # basic_auth_users: the hash is a secret, described and never repeated
    "invalid-web-users-not-mapping.yml": "basic_auth_users: must be a mapping of user name to bcrypt hash, not a list",
    "invalid-web-user-name.yml": (
        "basic_auth_users: user name 'a:b' can not be sent in basic auth (empty, ':' or control)"
    ),
    "invalid-web-user-hash-not-string.yml": "basic_auth_users.alice: must be a bcrypt hash string, not int",
    "invalid-web-user-hash-null.yml": "basic_auth_users.alice: must be a bcrypt hash string, not null",
    "invalid-web-user-password-not-hash.yml": (
        "basic_auth_users.alice: not a bcrypt hash (expected $2y$, $2b$ or $2a$, a cost and 53 characters; "
        "make one with htpasswd -nBC 10 '' | tr -d ':\\n')"
    ),
    "invalid-web-user-bcrypt-cost.yml": "basic_auth_users.alice: bcrypt cost must be between 4 and 31",
}


@pytest.fixture
def pki_folder(pki: Pki, tmp_path: Path) -> Path:
    """A folder of its own with the PKI's certificates and keys, for the bad web configs to name."""
    for pem in (*pki.ca.parent.glob("*.pem"), *pki.ca.parent.glob("*.key")):
        shutil.copy(pem, tmp_path / pem.name)
    return tmp_path


@pytest.mark.parametrize(("name", "message"), BAD_WEB_CONFIGS.items())
def test_load_bad_web_configs(pki_folder: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str) -> None:
    shutil.copy(TESTDATA / name, pki_folder / name)
    monkeypatch.chdir(pki_folder)
    with pytest.raises(ConfigError) as caught:
        webconfig.load(name)
    assert str(caught.value) == f"web config file {name}: {message}"
    assert "s3cret-value" not in str(caught.value)  # a value given as a password hash is never repeated


def test_every_bad_web_config_file_has_its_message() -> None:
    assert {p.name for p in TESTDATA.glob("invalid-web-*.yml")} == set(BAD_WEB_CONFIGS)


def test_encrypted_key_is_explained(pki: Pki) -> None:
    key = serialization.load_pem_private_key(pki.server.key.read_bytes(), password=None)
    (pki.ca.parent / "locked.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    path = write_web(pki.ca.parent, "tls_server_config:\n  cert_file: server.pem\n  key_file: locked.key\n", "l.yml")
    with pytest.raises(ConfigError, match=r"tls_server_config\.key_file: .* is encrypted"):
        webconfig.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read web config file .*nope\.yml"):
        webconfig.load(tmp_path / "nope.yml")


def test_cli_exits_2_on_a_bad_web_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.yml"
    cfg.write_text("auth: {client_id: a, client_secret: b}\n")
    web = write_web(tmp_path, "basic_auth_users:\n  alice: not-a-hash\n")
    assert cli.main(["--config.file", str(cfg), "--web.config.file", str(web)], env={}) == 2
    err = capsys.readouterr().err
    assert "basic_auth_users.alice: not a bcrypt hash" in err and "not-a-hash" not in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("data", "env", "message"),
    [
        ({"web": {"open_health_check": "yes"}}, {}, "web.open_health_check: must be true or false"),
        ({"web": {"max_connections": 0}}, {}, "web.max_connections: must be at least 1"),
        ({}, {"AVEPOINT_WEB_READ_HEADER_TIMEOUT": "soon"}, "web.read_header_timeout: must be a positive duration"),
    ],
)
def test_web_section_of_the_main_config(data: dict[str, object], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.from_mapping({"auth": {"client_id": "a", "client_secret": "b"}, **data}, env=env)


def test_web_section_defaults_and_overrides() -> None:
    base = {"auth": {"client_id": "a", "client_secret": "b"}}
    web = config.from_mapping(base).web
    assert (web.open_health_check, web.max_connections) == (True, 64)
    assert (web.read_header_timeout, web.write_timeout, web.idle_timeout) == (10.0, 30.0, 30.0)
    env = {"AVEPOINT_WEB_MAX_CONNECTIONS": "8", "AVEPOINT_WEB_OPEN_HEALTH_CHECK": "false"}
    web = config.from_mapping(base, env=env).web
    assert (web.open_health_check, web.max_connections) == (False, 8)

"""The web config file (exporter-toolkit format): what loads, and errors that name the key."""

from __future__ import annotations

import ssl
from pathlib import Path

import bcrypt
import pytest
from cryptography.hazmat.primitives import serialization

from exporter import cli, config
from exporter.config import web as webconfig
from exporter.errors import ConfigError
from tests.support.pki import Pki, bcrypt_hash

# --- a small PKI, made fresh for the test run (EC keys: fast to generate) -----------------------------


# --- loading -------------------------------------------------------------------------------------------


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


TLS = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope: 1\n", "unknown key nope (known here: basic_auth_users, http_server_config"),
        ("- a\n", "the top level must be a mapping of keys, not a list"),
        ("tls_server_config: a\n  cert_file: b\n", "YAML syntax error at line 2, column 12"),
        (TLS + "  bogus: 1\n", "unknown key tls_server_config.bogus"),
        ("tls_server_config:\n  cert_file: server.pem\n", "tls_server_config.key_file: required"),
        ("tls_server_config:\n  key_file: server.key\n", "tls_server_config.cert_file: required"),
        ("tls_server_config:\n  cert_file: missing.pem\n  key_file: server.key\n", "tls_server_config.cert_file: "),
        ("tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n", "holds no PEM certificate"),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: server.pem\n", "holds no PEM private key"),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: client.key\n", "key_file: does not match"),
        (TLS + "  client_auth_type: Maybe\n", "tls_server_config.client_auth_type: must be one of NoClientCert"),
        (TLS + "  client_auth_type: RequireAnyClientCert\n", "RequireAnyClientCert (any certificate, never verified)"),
        (TLS + "  client_auth_type: RequireAndVerifyClientCert\n", "tls_server_config.client_ca_file: required"),
        (TLS + "  client_ca_file: client-ca.pem\n", "client_ca_file: set, but client_auth_type NoClientCert"),
        (
            TLS + "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: server.key\n",
            "tls_server_config.client_ca_file: ",
        ),
        (TLS + "  min_version: TLS10\n", "tls_server_config.min_version: must be one of TLS12, TLS13, not 'TLS10'"),
        (TLS + "  min_version: TLS13\n  max_version: TLS12\n", "min_version: TLS13 is above max_version TLS12"),
        (TLS + "  prefer_server_cipher_suites: maybe\n", "prefer_server_cipher_suites: must be true or false"),
        (TLS + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "tls_server_config.cipher_suites: not supported"),
        (TLS + "  client_allowed_sans: [prometheus]\n", "tls_server_config.client_allowed_sans: not supported"),
        (TLS + "  cert: inline\n", "tls_server_config.cert: inline PEM is not supported"),
        ("rate_limit: {interval: 1s, burst: 20}\n", "rate_limit: not supported"),
        ("http_server_config:\n  headers:\n    Content-Type: text/html\n", "headers.Content-Type: this header can not"),
        ("http_server_config:\n  headers:\n    WWW-Authenticate: None\n", "headers.WWW-Authenticate: this header"),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "must be one of deny, sameorigin"),
        ('http_server_config:\n  headers:\n    Content-Security-Policy: "a\\r\\nSet-Cookie: x"\n', "must be one line"),
        ("http_server_config:\n  http2: sometimes\n", "http_server_config.http2: must be true or false"),
        ("http_server_config:\n  extra: 1\n", "unknown key http_server_config.extra"),
        ("basic_auth_users: [alice]\n", "basic_auth_users: must be a mapping"),
        ("basic_auth_users:\n  alice: plaintext-password\n", "basic_auth_users.alice: not a bcrypt hash"),
        ("basic_auth_users:\n  alice: 12\n", "basic_auth_users.alice: must be a bcrypt hash string"),
        ("basic_auth_users:\n  'a:b': x\n", "basic_auth_users: user name 'a:b' can not be sent"),
        (
            "basic_auth_users:\n  alice: $2y$99$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
            "basic_auth_users.alice: bcrypt cost must be between 4 and 31",
        ),
    ],
)
def test_errors_name_the_key(pki: Pki, text: str, message: str) -> None:
    path = write_web(pki.ca.parent, text, "bad.yml")
    with pytest.raises(ConfigError) as caught:
        webconfig.load(path)
    error = str(caught.value)
    assert error.startswith(f"web config file {path}: "), error
    assert message in error, error
    assert "plaintext-password" not in error  # a value given as a password hash is never repeated


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

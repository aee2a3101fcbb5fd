"""Token requests: the client-secret form, a real RS256 client assertion, and the token cache."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from exporter import config
from exporter.upstream import auth
from tests.support import make_cert, write

TOKEN_URL = "https://identity.example.test/connect/token"


def test_client_secret_form() -> None:
    cfg = config.AuthConfig(client_id="app", client_secret=config.Secret("pw"), scopes=("a", "b"))
    form = auth.token_form(cfg, TOKEN_URL, now=1000.0)
    assert form == {"grant_type": "client_credentials", "client_id": "app", "scope": "a b", "client_secret": "pw"}


def test_certificate_assertion_verifies_with_the_public_key(tmp_path: Path) -> None:
    key_path, cert_path, key = make_cert(tmp_path)
    text = f"auth: {{client_id: app, private_key_file: {key_path}, certificate_file: {cert_path}}}\n"
    cfg = config.load(write(tmp_path, text), env={}).auth
    now = 1_700_000_000.0
    form = auth.token_form(cfg, TOKEN_URL, now)
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in form
    token = form["client_assertion"]
    claims = jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS256"],
        audience=TOKEN_URL,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert claims["iss"] == claims["sub"] == "app"
    assert claims["iat"] == claims["nbf"] == int(now)
    assert claims["exp"] == int(now + auth.ASSERTION_LIFETIME)
    assert len(claims["jti"]) >= 32
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    der = (tmp_path / "cert.pem").read_bytes()
    from cryptography import x509

    sha1 = hashlib.sha1(
        x509.load_pem_x509_certificate(der).public_bytes(serialization.Encoding.DER), usedforsecurity=False
    ).digest()
    assert header["kid"] == sha1.hex().upper()
    assert header["x5t"] == base64.urlsafe_b64encode(sha1).rstrip(b"=").decode()
    # A fresh jti every time: the token endpoint may reject replays.
    assert (
        jwt.decode(auth.token_form(cfg, TOKEN_URL, now)["client_assertion"], options={"verify_signature": False})["jti"]
        != claims["jti"]
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_renews_before_expiry() -> None:
    clock = FakeClock()
    cache = auth.TokenCache(clock)
    assert cache.get() is None
    cache.put("t1", 3600)
    assert cache.get() == "t1"
    clock.now = 3600 - auth.RENEW_MARGIN - 1
    assert cache.get() == "t1"
    clock.now = 3600 - auth.RENEW_MARGIN
    assert cache.get() is None


@pytest.mark.parametrize("expires_in", [0, 1, 30])
def test_short_lived_tokens_are_kept_for_half_their_life(expires_in: int) -> None:
    clock = FakeClock()
    cache = auth.TokenCache(clock)
    cache.put("t", expires_in)
    clock.now = expires_in / 2
    assert cache.get() is None


def test_invalidate_only_drops_the_token_that_failed() -> None:
    cache = auth.TokenCache(FakeClock())
    cache.put("new", 3600)
    cache.invalidate("old")  # a 401 for a token already replaced by another thread
    assert cache.get() == "new"
    cache.invalidate("new")
    assert cache.get() is None


def test_token_repr_hides_the_value() -> None:
    assert "abc" not in repr(auth.Token("abc", 1.0))

"""The token endpoint: who may have a token (client secret or client assertion), what it may read (scopes)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import parse_qs, unquote_plus

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from avepoint_simulator.answers import Response, dumps, oauth_error
from avepoint_simulator.faults import Faults

DEMO_CLIENT_ID: Final = "demo"
# Not a secret: only the simulator accepts it. (S105 is off in some lint runs, hence RUF100.)
DEMO_CLIENT_SECRET: Final = "demo-secret"  # noqa: S105, RUF100

PARTNER_SCOPES: Final = (
    "partner.customers.read.all",
    "partner.jobs.read.all",
    "partner.cbprotected.read.all",
    "partner.license.read.all",
    "partner.scanprofiles.read.all",
)
# One app registration can hold both families; anything else is refused like IdentityServer
# refuses a scope the client was not granted.
ELEMENTS_SCOPES: Final = (
    "elements.customers.read.all",
    "elements.jobs.read.all",
    "elements.cbprotected.read.all",
    "elements.license.read.all",
    "elements.scanprofiles.read.all",
)
_KNOWN_SCOPES: Final = frozenset(PARTNER_SCOPES + ELEMENTS_SCOPES)
_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Clocks of client and server never agree exactly; IdentityServer allows a few minutes.
_ASSERTION_LEEWAY: Final = 30.0


class Identity:
    """One app registration as IdentityServer knows it, and the tokens issued to it."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | None,
        public_key_pem: str | bytes | None,
        clock: Callable[[], float],
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._public_key, self._thumbprint = _load_public_key(public_key_pem)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._seen_jti: dict[str, float] = {}

    def token(
        self,
        *,
        method: str,
        content_type: str | None,
        authorization: str | None,
        body: bytes,
        audiences: Sequence[str],
        faults: Faults,
    ) -> Response:
        """The answer to a token request; `audiences` are the token URLs a client assertion may name."""
        if method != "POST":
            return oauth_error(405, "invalid_request", faults, (("Allow", "POST"),))
        if "application/x-www-form-urlencoded" not in (content_type or "").lower():
            return oauth_error(400, "invalid_request", faults)
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return oauth_error(400, "invalid_request", faults)
        values = {name: items[0] for name, items in form.items() if items}
        if values.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", faults)
        if not self._authenticate(values, authorization, audiences):
            return oauth_error(400, "invalid_client", faults)
        requested = values.get("scope", "").split()
        if not requested or any(scope not in _KNOWN_SCOPES for scope in requested):
            return oauth_error(400, "invalid_scope", faults)
        ttl = faults.token_ttl
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            live = {t: v for t, v in self._tokens.items() if v[0] > now}
            live[token] = (now + ttl, frozenset(requested))
            self._tokens = live
        body_out = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": " ".join(dict.fromkeys(requested)),
        }
        no_store = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
        return Response(200, dumps(body_out), headers=no_store)

    def _authenticate(self, form: dict[str, str], authorization: str | None, audiences: Sequence[str]) -> bool:
        assertion_type = form.get("client_assertion_type")
        assertion = form.get("client_assertion")
        if assertion_type is not None or assertion is not None:
            if assertion_type != _ASSERTION_TYPE or not assertion:
                return False
            return self._verify_assertion(assertion, form.get("client_id"), audiences)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization[:6].lower() == "basic ":
            # client_secret_basic, which IdentityServer accepts as well as the form fields.
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if self._client_secret is None or client_id is None or secret is None:
            return False
        return hmac.compare_digest(client_id.encode(), self.client_id.encode()) & hmac.compare_digest(
            secret.encode(), self._client_secret.encode()
        )

    def _verify_assertion(self, assertion: str, form_client_id: str | None, audiences: Sequence[str]) -> bool:
        if self._public_key is None:
            return False
        if form_client_id is not None and form_client_id != self.client_id:
            return False
        try:
            header = jwt.get_unverified_header(assertion)
            kid, x5t = header.get("kid"), header.get("x5t")
            if not kid and not x5t:
                return False
            if self._thumbprint is not None and not _thumbprint_matches(self._thumbprint, kid, x5t):
                return False
            claims = jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                audience=list(audiences),
                issuer=self.client_id,
                # exp and nbf are checked below against the simulator's clock.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["iss", "sub", "aud", "exp", "jti"],
                },
            )
        except jwt.PyJWTError:
            return False
        exp, nbf, jti = claims.get("exp"), claims.get("nbf"), claims.get("jti")
        if claims.get("sub") != self.client_id or not isinstance(jti, str):
            return False
        if not isinstance(exp, int | float) or not isinstance(nbf, int | float | None):
            return False

        def valid_at(now: float) -> bool:
            return now - _ASSERTION_LEEWAY < exp and (nbf is None or nbf <= now + _ASSERTION_LEEWAY)

        # Tests drive the simulator's clock (hours ahead, to expire tokens) while a client
        # may sign with the wall clock: an assertion valid by either is accepted.
        if not (valid_at(self._clock()) or valid_at(time.time())):
            return False
        # IdentityServer refuses a replayed assertion: a client must mint a fresh jti.
        with self._lock:
            now = time.time()
            self._seen_jti = {j: t for j, t in self._seen_jti.items() if t > now}
            if jti in self._seen_jti:
                return False
            self._seen_jti[jti] = max(now, float(exp)) + 2 * _ASSERTION_LEEWAY + 3600
        return True

    def scopes(self, authorization: str | None) -> frozenset[str] | None:
        """The scopes of the live token an Authorization header carries; None without one."""
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        entry = self._tokens.get(authorization[7:].strip())
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def revoke(self) -> None:
        """Every token issued so far answers 401 from now on."""
        with self._lock:
            self._tokens = {}


def _load_public_key(pem: str | bytes | None) -> tuple[RSAPublicKey | None, bytes | None]:
    """The key that verifies client assertions and, for a certificate, its SHA-1 thumbprint."""
    if pem is None:
        return None, None
    data = pem.encode() if isinstance(pem, str) else pem
    thumbprint: bytes | None = None
    key: object
    if b"BEGIN CERTIFICATE" in data:
        certificate = x509.load_pem_x509_certificate(data)
        key = certificate.public_key()
        der = certificate.public_bytes(serialization.Encoding.DER)
        # SHA-1 only because the kid/x5t header thumbprint is defined with it.
        thumbprint = hashlib.sha1(der, usedforsecurity=False).digest()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, RSAPublicKey):
        raise ValueError("client assertions are RS256: the public key must be RSA")
    return key, thumbprint


def _thumbprint_matches(thumbprint: bytes, kid: object, x5t: object) -> bool:
    """With a certificate configured, a header thumbprint must name it (hex kid or x5t)."""
    if isinstance(kid, str) and kid.replace(":", "").lower() == thumbprint.hex():
        return True
    if isinstance(x5t, str):
        try:
            if base64.urlsafe_b64decode(x5t + "=" * (-len(x5t) % 4)) == thumbprint:
                return True
        except (binascii.Error, ValueError):
            return False
    return False

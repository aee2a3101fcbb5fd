"""Access tokens: what to send to the token endpoint (client secret or signed assertion), how long a token
lasts, and the auth the transport asks for an Authorization header and tells of a 401 (cache and renewal)."""

from __future__ import annotations

import base64
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from exporter.config import ApiConfig, AuthConfig
from exporter.errors import ApiError, ResponseFormatError
from exporter.upstream.routes import EP_TOKEN
from exporter.upstream.transport import Transport

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# AvePoint's samples sign assertions valid for 5 to 60 minutes; a short life limits a leaked one.
ASSERTION_LIFETIME = 300.0
# Renew this long before expiry, so a token never runs out between our check and the upstream's.
RENEW_MARGIN = 60.0
# The lifetime assumed when the token endpoint sends none (AvePoint's tokens last one hour).
DEFAULT_LIFETIME = 3600.0
# A sent lifetime is capped at a day: no token endpoint grants longer, and a bigger number (one of 400
# digits overflows a float) would keep a token forever. Short lives are honoured, down to 0 (no caching).
MAX_LIFETIME = 86_400.0


def token_form(auth: AuthConfig, token_url: str, now: float) -> dict[str, str]:
    """The form body of a client-credentials token request for these credentials."""
    form = {
        "grant_type": "client_credentials",
        "client_id": auth.client_id,
        "scope": " ".join(auth.scopes),
    }
    if auth.private_key_pem is not None:
        form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        form["client_assertion"] = client_assertion(auth, token_url, now)
    elif auth.client_secret is not None:
        form["client_secret"] = auth.client_secret.get()
    return form


def token_lifetime(raw: object) -> float:
    """The seconds a token lasts, from the token endpoint's `expires_in`, capped at MAX_LIFETIME.

    A number or a decimal string (some endpoints quote it); absent means DEFAULT_LIFETIME. ValueError
    for anything else: a bool, another string, a negative or non-finite number. Integers are compared
    before any float conversion, so 400 digits clamp instead of overflowing.
    """
    if raw is None:
        return DEFAULT_LIFETIME
    if isinstance(raw, str) and raw.strip().isdecimal() and len(raw.strip()) <= 20:
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"an expires_in that is not a number of seconds ({type(raw).__name__})")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ValueError("an expires_in that is not a finite number")
    if raw < 0:
        raise ValueError("a negative expires_in")
    return float(min(raw, MAX_LIFETIME))


def client_assertion(auth: AuthConfig, token_url: str, now: float) -> str:
    """An RS256 JWT proving possession of the certificate's key (RFC 7523)."""
    assert auth.private_key_pem is not None
    thumb = bytes.fromhex(auth.certificate_thumbprint)
    claims = {
        "iss": auth.client_id,
        "sub": auth.client_id,
        "aud": token_url,
        "jti": str(uuid.uuid4()),
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now + ASSERTION_LIFETIME),
    }
    # Which header AvePoint reads is undocumented: working clients send one or the other, so send both.
    headers = {
        "kid": thumb.hex().upper(),
        "x5t": base64.urlsafe_b64encode(thumb).rstrip(b"=").decode(),
    }
    return jwt.encode(claims, auth.private_key_pem.get(), algorithm="RS256", headers=headers)


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at})"


class TokenCache:
    """Holds one access token until shortly before it expires. Thread-safe; the clock is passed in."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._token: Token | None = None
        self._lock = threading.Lock()
        # Held by whoever is fetching a new token, so concurrent callers wait for one request.
        self.renewal = threading.Lock()

    def get(self) -> str | None:
        with self._lock:
            token = self._token
        if token is None or self._clock() >= token.expires_at:
            return None
        return token.value

    def put(self, value: str, expires_in: float) -> None:
        """Hold `value` for `expires_in` seconds (0 to MAX_LIFETIME; anything else is taken as 0), less the margin."""
        expires_in = min(max(expires_in, 0.0), MAX_LIFETIME) if math.isfinite(expires_in) else 0.0
        life = max(expires_in - min(RENEW_MARGIN, expires_in / 2), 0.0)
        with self._lock:
            self._token = Token(value, self._clock() + life)

    def invalidate(self, value: str) -> None:
        """Forget `value` if it is still the current token (a 401 proved it dead)."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None


class TokenAuth:
    """A bearer token for the API, as httpx's Auth: the transport asks for the header and reports a 401.

    Owns the token cache and its renewal; the token request itself goes through the transport (rate
    limit, retries, budgets, counted as endpoint "token"). Any error getting a token is marked
    `no_token`: every request fails alike until one can be had, which the refresher tells apart.
    """

    def __init__(
        self,
        auth: AuthConfig,
        api: ApiConfig,
        transport: Transport,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._auth, self._token_url, self._transport = auth, api.token_url, transport
        self._wall = wall_clock
        self.tokens = TokenCache(clock)

    def authorization(self) -> str:
        return f"Bearer {self.token()}"

    def refused(self, authorization: str) -> None:
        self.tokens.invalidate(authorization.removeprefix("Bearer "))

    def token(self) -> str:
        """A valid access token, from the cache or the token endpoint (one request for all threads)."""
        cached = self.tokens.get()
        if cached is not None:
            return cached
        with self.tokens.renewal:
            cached = self.tokens.get()
            if cached is not None:
                return cached
            try:
                return self._fetch()
            except ApiError as exc:
                exc.no_token = True
                raise

    def _fetch(self) -> str:
        form = token_form(self._auth, self._token_url, self._wall())
        transport = self._transport
        body = transport.call(EP_TOKEN, "POST", self._token_url, transport.budget(EP_TOKEN), data=form)
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise ResponseFormatError("token endpoint answered without an access_token", endpoint=EP_TOKEN)
        try:
            lifetime = token_lifetime(body.get("expires_in"))
        except ValueError as exc:
            raise ResponseFormatError(f"token endpoint answered {exc}", endpoint=EP_TOKEN) from None
        self.tokens.put(body["access_token"], lifetime)
        return str(body["access_token"])

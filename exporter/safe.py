"""Outside text made safe for every output: API strings repaired, log and page text encodable, URLs without secrets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Longest text kept from the API, in characters. Every such text becomes a label value or a cell of the
# status page; Prometheus' label_value_length_limit rejects a whole scrape for one value past it, and a
# megabyte organization name is corruption, not a name. 1,024 covers every real name with room to spare.
MAX_TEXT = 1024
REPLACEMENT = "\ufffd"
ELLIPSIS = "\u2026"
# Lone surrogates (a JSON "\ud800" decodes to one; no encoder accepts it) and control characters (C0, DEL,
# C1: NUL, escape sequences that rewrite a terminal, carriage returns that forge a log line). Tab and line
# feed stay: every output escapes them (exposition, logfmt, JSON) or shows them as space (HTML).
_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def is_plain(text: str) -> bool:
    """True for text that needs no repair; the fast path of every API string (nearly all are printable ASCII)."""
    return len(text) <= MAX_TEXT and ((text.isascii() and text.isprintable()) or _BAD.search(text) is None)


def repair(text: str) -> str:
    """`text` with lone surrogates and control characters replaced by U+FFFD, cut to MAX_TEXT characters."""
    text = _BAD.sub(REPLACEMENT, text)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + ELLIPSIS
    return text


def encodable(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD: the one thing UTF-8 cannot encode."""
    return _SURROGATES.sub(REPLACEMENT, text)


def encode(text: str) -> bytes:
    """UTF-8 of `text`; a lone surrogate that got this far becomes U+FFFD instead of an exception.

    Defence in depth: the parser repairs API text already, but bytes are made here, and a text that
    cannot be encoded must cost one character, never a whole response.
    """
    try:
        return text.encode()
    except UnicodeEncodeError:
        return encodable(text).encode()


def public_url(url: str) -> str:
    """The URL for logs, pages and output: no user info, query or fragment, which may carry credentials.

    What is left (scheme, host, port, path) is what an operator needs to tell which API is meant. A URL
    that does not parse is shown as a placeholder rather than as typed: it may hold a secret too.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    if not parts.scheme or not host:
        return "<unparseable URL>" if url else ""
    return f"{parts.scheme}://{host}{port}{_BAD.sub(REPLACEMENT, parts.path)}"


__all__ = ["MAX_TEXT", "REPLACEMENT", "encodable", "encode", "is_plain", "public_url", "repair"]

"""Which exposition format a scrape's Accept header asks for: OpenMetrics 1.0 or the classic text format."""

from __future__ import annotations

# Versions of OpenMetrics text this exporter's 1.0.0 output satisfies: Prometheus 2.x and 3.x offer
# 1.0.0 and 0.0.1 (the draft, of which 1.0.0 is the published form), and prometheus_client answers both
# with 1.0.0. A version it does not know (2.0.0, with its new syntax) is not offered.
OPENMETRICS_VERSIONS = frozenset({"", "1.0.0", "0.0.1"})
# The classic text format 0.0.4; Prometheus 3 also offers text 1.0.0 (the same syntax with UTF-8 names).
TEXT_VERSIONS = frozenset({"", "0.0.4", "1.0.0"})


def _ranges(accept: str) -> list[tuple[str, str, str, float]]:
    """The media ranges of an Accept header: (type, subtype, version, q); malformed entries left out."""
    out = []
    for entry in accept.split(","):
        kind, *params = (part.strip() for part in entry.split(";"))
        main, slash, sub = kind.lower().partition("/")
        if not slash or not main or not sub:
            continue
        version, q = "", 1.0
        for param in params:
            key, _, value = param.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # an unreadable weight accepts nothing rather than everything
            elif key == "version":
                version = value
        out.append((main, sub, version, q))
    return out


def _weight(ranges: list[tuple[str, str, str, float]], main: str, sub: str, versions: frozenset[str]) -> float:
    """The q of the most specific range that matches the type (RFC 9110 12.5.1); 0 when none does."""
    best, specificity = 0.0, -1
    for r_main, r_sub, version, q in ranges:
        if (r_main, r_sub) == (main, sub):
            if version not in versions:
                continue  # that version of the type is not what this exporter writes
            rank = 2
        elif (r_main, r_sub) == (main, "*"):
            rank = 1
        elif (r_main, r_sub) == ("*", "*"):
            rank = 0
        else:
            continue
        if rank > specificity or (rank == specificity and q > best):
            best, specificity = q, rank
    return best


def wants_openmetrics(accept: str | None) -> bool:
    """True if the client prefers OpenMetrics 1.0 to the classic text format.

    No header, a wildcard only, or equal weights leave the classic format, which every client reads; a
    named openmetrics-text above text/plain, as Prometheus sends it, gets OpenMetrics.
    """
    if not accept:
        return False
    ranges = _ranges(accept)
    named = any(main == "application" and sub == "openmetrics-text" for main, sub, _, _ in ranges)
    if not named:
        return False
    openmetrics = _weight(ranges, "application", "openmetrics-text", OPENMETRICS_VERSIONS)
    text = _weight(ranges, "text", "plain", TEXT_VERSIONS)
    return openmetrics > text


__all__ = ["OPENMETRICS_VERSIONS", "TEXT_VERSIONS", "wants_openmetrics"]

"""Bad values in API answers: every one counted, each logged at most once an hour per customer and field."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from exporter.upstream import parse

log = logging.getLogger(__name__)

# A bad value repeats with every refresh: one log line per customer and field per this many seconds (carrying
# how many repeats it stood for) names the row without flooding the log.
PARSE_LOG_INTERVAL = 3600.0
# Bound on the (customer, field) pairs remembered for that; past it the memory starts over.
_PARSE_LOG_KEYS = 100_000


class ParseLog:
    """Counts each bad field (`on_parse_error`) and logs it, rate-limited. Called from every refresh thread."""

    def __init__(self, on_parse_error: Callable[[str], None], clock: Callable[[], float]) -> None:
        self._on_parse_error = on_parse_error
        self._clock = clock
        # (customer id, field) -> [monotonic time of the last line, occurrences not logged since]
        self._parse_log: dict[tuple[str, str], list[float]] = {}
        self._parse_log_lock = threading.Lock()

    def count(self, fields: list[str], customer_id: str = "", where: Mapping[str, str] | None = None) -> None:
        """Count every field; log it naming the customer and row (`where`: job type and module), rate-limited."""
        for name in fields:
            self._on_parse_error(name)
            now = self._clock()
            with self._parse_log_lock:
                if len(self._parse_log) >= _PARSE_LOG_KEYS:
                    self._parse_log.clear()
                entry = self._parse_log.get((customer_id, name))
                if entry is not None and now - entry[0] < PARSE_LOG_INTERVAL:
                    entry[1] += 1
                    continue
                suppressed = int(entry[1]) if entry is not None else 0
                self._parse_log[(customer_id, name)] = [now, 0]
            message = (
                "invalid API text repaired (lone surrogates and control characters replaced, or cut to length)"
                if isinstance(name, parse.Repaired)
                else "unparseable value left out"
            )
            log.warning(
                message,
                extra={"field": name, "customer_id": customer_id, **(where or {}), "suppressed": suppressed},
            )

"""The status page's query: filter text, problems only and page number from the URL; the rows they select.

The page shows at most PAGE_SIZE customers, problems first, so it opens quickly at thousands of
customers; the rest are a link away (`?page=2`), and filtering happens here, on the server, so the page
works without JavaScript (its script only saves the reloads). /status.json stays complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from exporter import safe
from exporter.web.status.view import PROBLEMS, Row, Status

PAGE_SIZE = 100
# A filter longer than any organization or id matches nothing anyway; the cap bounds the work per request.
MAX_FILTER = 200


@dataclass(frozen=True, slots=True)
class Query:
    text: str = ""  # as typed (trimmed); matched case-insensitively
    problems: bool = False
    page: int = 1  # 1-based; past the last page means the last

    @classmethod
    def parse(cls, query: str) -> Query:
        """From a URL's query string; anything malformed means its default, never an error page."""
        try:
            params = parse_qs(query, keep_blank_values=True, max_num_fields=20)
        except ValueError:  # more fields than any view has: not a view of this page
            return cls()
        text = safe.repair((params.get("filter") or [""])[0]).strip()[:MAX_FILTER]
        page_text = (params.get("page") or ["1"])[0]
        page = int(page_text) if page_text.isascii() and page_text.isdigit() and len(page_text) < 7 else 1
        return cls(text, (params.get("problems") or [""])[0] == "1", max(page, 1))

    def link(self, page: int | None = None) -> str:
        """The query string of this view (or another page of it), '' for the default view."""
        params: list[tuple[str, str]] = []
        if self.text:
            params.append(("filter", self.text))
        if self.problems:
            params.append(("problems", "1"))
        number = self.page if page is None else page
        if number > 1:
            params.append(("page", str(number)))
        return ("?" + urlencode(params)) if params else ""


def haystack(row: Row) -> str:
    """What the filter matches against: the texts a row shows of the customer, in lower case."""
    parts = [row.organization, row.customer_id, row.status, row.country, *row.reasons]
    parts += [f"{r.error.kind} {r.error.message}" for r in row.refresh if r.error is not None]
    return "\n".join(parts).casefold()


@dataclass(frozen=True, slots=True)
class Selection:
    rows: tuple[Row, ...]  # the page's rows
    matched: int  # rows matching the filter, on every page
    total: int  # customers
    page: int
    pages: int
    first: int  # 1-based number of the first row shown among the matched (0 when none)


def select(status: Status, haystacks: tuple[str, ...], query: Query) -> Selection:
    """The rows of `query`'s page; `haystacks` are the rows' haystack(), built once per page generation."""
    needle = query.text.casefold()
    matched = [
        row
        for row, hay in zip(status.rows, haystacks, strict=True)
        if (not query.problems or row.health in PROBLEMS) and needle in hay
    ]
    pages = max(1, -(-len(matched) // PAGE_SIZE))
    page = min(query.page, pages)
    start = (page - 1) * PAGE_SIZE
    shown = tuple(matched[start : start + PAGE_SIZE])
    return Selection(shown, len(matched), len(status.rows), page, pages, start + 1 if shown else 0)


__all__ = ["MAX_FILTER", "PAGE_SIZE", "Query", "Selection", "haystack", "select"]

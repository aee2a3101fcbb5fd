"""The status page: a view of the fleet built once per snapshot generation, as HTML (for people) and JSON."""

from exporter.web.status.cache import Page, StatusCache
from exporter.web.status.document import JSON_HEADERS, JSON_TYPE, render_json, to_dict
from exporter.web.status.html import CSP_HTML, GLYPHS, HTML_HEADERS, HTML_TYPE, SCRIPT, STYLE, live_line, render_html
from exporter.web.status.view import FAILED, OK, PENDING, WARNING, Process, Status, build

__all__ = [
    "CSP_HTML",
    "FAILED",
    "GLYPHS",
    "HTML_HEADERS",
    "HTML_TYPE",
    "JSON_HEADERS",
    "JSON_TYPE",
    "OK",
    "PENDING",
    "SCRIPT",
    "STYLE",
    "WARNING",
    "Page",
    "Process",
    "Status",
    "StatusCache",
    "build",
    "live_line",
    "render_html",
    "render_json",
    "to_dict",
]

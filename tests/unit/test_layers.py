"""The folder list is the pipeline: imports run only downwards, and each package says what it exports."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.support import ROOT

# Bottom to top. A module may import its own layer and the layers below it, never one above.
LAYERS = (
    ("base", ("exporter", "exporter.errors", "exporter.units", "exporter.safe", "exporter.codes", "exporter.shard",
              "exporter.logs", "exporter.memory")),
    ("config", ("exporter.config",)),
    ("model", ("exporter.model",)),
    ("upstream", ("exporter.upstream",)),
    ("refresh", ("exporter.refresh",)),
    ("exposition", ("exporter.exposition",)),
    ("web", ("exporter.web",)),
    ("report", ("exporter.report",)),
    ("command line", ("exporter.cli", "exporter.runtime", "exporter.__main__")),
)  # fmt: skip
# Beyond the order: the exposition and the web layer read the model, never the upstream or the refresher's
# data types; the upstream knows nothing of Prometheus or of serving HTTP.
FORBIDDEN = {
    "exposition": ("exporter.upstream", "exporter.refresh"),
    "web": ("exporter.upstream",),
    # The report reads Prometheus, not AvePoint or the pipeline's records: a second program beside them.
    "report": (
        "exporter.config",
        "exporter.model",
        "exporter.upstream",
        "exporter.refresh",
        "exporter.exposition",
        "exporter.web",
    ),
    "upstream": ("prometheus_client", "http.server", "exporter.refresh", "exporter.exposition", "exporter.web"),
}
PACKAGES = (
    "exporter.config",
    "exporter.upstream",
    "exporter.refresh",
    "exporter.exposition",
    "exporter.web",
    "exporter.report",
)


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _layer(module: str) -> int | None:
    # The longest prefix wins: `exporter` itself is base, `exporter.web.app` is web.
    found = [(len(p), rank) for rank, (_, prefixes) in enumerate(LAYERS) for p in prefixes if _within(module, p)]
    return max(found)[1] if found else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from exporter import codes` imports the module exporter.codes
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("exporter"), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_downwards(path: Path) -> None:
    me = _module(path)
    mine = _layer(me)
    assert mine is not None, f"{me} is in no layer: add it to LAYERS"
    name = LAYERS[mine][0]
    wrong = []
    for line, target in _imports(path):
        theirs = _layer(target)
        if theirs is not None and theirs > mine and not _within(target, "exporter.__version__"):
            wrong.append(f"line {line}: {me} ({name}) imports {target} ({LAYERS[theirs][0]})")
        wrong += [
            f"line {line}: {name} must not import {target}" for p in FORBIDDEN.get(name, ()) if _within(target, p)
        ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", _sources("avepoint_simulator"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_simulator_shares_no_code_with_the_product(path: Path) -> None:
    assert not [t for _, t in _imports(path) if _within(t, "exporter")]


@pytest.mark.parametrize("package", (*PACKAGES, "avepoint_simulator"))
def test_each_package_exports_exactly_its_all(package: str) -> None:
    """As httpx's test_exported_members: `__all__` lists the public names, and each is there."""
    module = importlib.import_module(package)
    listed = set(module.__all__)
    public = {n for n in vars(module) if not n.startswith("_")} - {"annotations"}
    submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
    assert listed == public - submodules
    assert module.__doc__, f"{package} opens with a line saying what it owns"

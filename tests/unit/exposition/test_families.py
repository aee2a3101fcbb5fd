"""The metric contract as written in families.py: each group's docstring is the exposition it produces."""

from __future__ import annotations

import pytest

from exporter.exposition.families import FAMILIES, GROUPS, JOB_FAMILIES, Group
from exporter.exposition.text import header
from tests.support import ROOT

GOLDEN = (ROOT / "tests" / "golden" / "exposition-full.prom").read_text().splitlines()


def exposition_lines(group: type[Group]) -> list[str]:
    """The docstring's indented exposition block, as lines of text."""
    assert group.__doc__
    lines = [line.strip() for line in group.__doc__.splitlines()]
    return [line for line in lines if line.startswith(("# HELP ", "# TYPE ", "avepoint_"))]


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.__name__)
def test_the_docstring_pastes_the_headers_of_its_families(group: type[Group]) -> None:
    documented = [line for line in exposition_lines(group) if line.startswith("#")]
    assert documented == [line for family in group.FAMILIES for line in header(family).decode().splitlines()]


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.__name__)
def test_the_docstring_samples_are_golden_lines_under_their_header(group: type[Group]) -> None:
    current = None
    for line in exposition_lines(group):
        if line.startswith("# TYPE "):
            current = line.split()[2]
        elif not line.startswith("#"):
            assert current is not None and line.startswith((current + "{", current + " ")), line
            assert line in GOLDEN, f"{line!r} is not in tests/golden/exposition-full.prom"


def test_every_family_is_in_one_group_once() -> None:
    assert len({family.name for family in FAMILIES}) == len(FAMILIES)
    assert set(JOB_FAMILIES) <= set(FAMILIES)

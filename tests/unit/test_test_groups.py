"""The xdist scheduler's month group (tests/conftest.py) names every module that reads the backfilled month."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import MONTH_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_that_reads_the_month_is_in_its_group() -> None:
    uses = re.compile(r"\b(month_prometheus|month_report)\b")
    readers = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if path != Path(__file__).resolve() and uses.search(path.read_text(encoding="utf-8"))
    }
    # A module left out still passes, but builds the month again on its own worker (some 20 s).
    assert readers == MONTH_MODULES


class _Options:
    loadscopereorder = False  # xdist's default: work units in collection order


class _Config:
    """What xdist's file scheduler reads of pytest's config: `--dist loadfile -n 2`."""

    option = _Options()

    def getvalue(self, name: str) -> object:
        return {"dist": "loadfile", "tx": ["2*popen"]}[name]


class _Worker:
    """A stand-in for xdist's WorkerController: records the tests it is sent."""

    def __init__(self, name: str) -> None:
        self.gateway = type("Gateway", (), {"id": name})()
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.extend(indexes)

    def shutdown(self) -> None:
        self.shutting_down = True


def test_the_scheduler_sends_the_month_modules_to_one_worker_and_keeps_other_modules_whole() -> None:
    """xdist's own scheduler, driven as its controller drives it, through the hook tests/conftest.py implements:
    fails if the override stops taking effect (the month would be built once per worker, some 20 s more)."""
    from tests.conftest import pytest_xdist_make_scheduler

    others = [f"tests/unit/test_{name}.py" for name in "abcdef"]
    modules = [*sorted(MONTH_MODULES), *others]  # by file alone, the first two would go to different workers
    collection = [f"{module}::test_{i}" for module in modules for i in range(3)]
    scheduler = pytest_xdist_make_scheduler(_Config(), None)  # type: ignore[arg-type]
    workers = [_Worker("gw0"), _Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    while scheduler.workqueue:  # as the controller does while workers finish: hand out the rest
        for worker in workers:
            if scheduler.workqueue:
                scheduler._assign_work_unit(worker)
    got = {worker.gateway.id: {collection[i].split("::")[0] for i in worker.sent} for worker in workers}
    month_on = [name for name, sent in got.items() if sent & MONTH_MODULES]
    assert len(month_on) == 1 and got[month_on[0]] >= MONTH_MODULES, got
    # Every other module whole on one worker, as --dist loadfile does.
    for module in others:
        assert sum(module in sent for sent in got.values()) == 1, (module, got)

"""Chromium driven over the DevTools protocol on a pipe: open a page, evaluate, type, click, time it."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.screenshot import CHROMIUM, FLAGS


class Navigated(RuntimeError):
    """An evaluation answered "Inspected target navigated or closed": the page went on to another document."""


class DevTools:
    """Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on fd 3,
    answers on fd 4, each a JSON message ended by NUL), so a test can type and click like a person."""

    def __init__(self, profile: Path) -> None:
        to_chrome, self._out = os.pipe()
        self._in, from_chrome = os.pipe()

        def wire() -> None:  # in the child, before exec: its fds 3 and 4 are the pipe's ends
            os.dup2(to_chrome, 3)
            os.dup2(from_chrome, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire,  # noqa: PLW1509 - the test is single-threaded here
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._next = 0
        self.session: str | None = None

    def send(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._in], [], [], left)[0]:
                    raise TimeoutError(f"no answer to {method} within {timeout}s")
                chunk = os.read(self._in, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"chromium closed the pipe (exit code {self.proc.poll()})")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next:  # events and other answers are not needed here
                if "error" in answer:
                    error = RuntimeError if "navigated" not in str(answer["error"]) else Navigated
                    raise error(f"{method}: {answer['error']}")
                return dict(answer["result"])

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 20
        # Until the new document is there and parsed to its end, where the page's script runs.
        while (
            self._eval_between_navigations(f"location.href === {json.dumps(url)} && document.readyState") != "complete"
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def eval(self, expression: str) -> Any:
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def click(self, selector: str) -> None:
        box = self.eval(
            f"(r => [r.x + r.width / 2, r.y + r.height / 2])(document.querySelector('{selector}')"
            ".getBoundingClientRect())"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._out)
        os.close(self._in)

    def wait(self, expression: str, seconds: float = 10.0) -> Any:
        """Poll `expression` in the page until it is truthy; its value. Bounded: a TimeoutError after `seconds`."""
        deadline = time.monotonic() + seconds
        while not (value := self._eval_between_navigations(expression)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} stayed false for {seconds}s")
            time.sleep(0.02)
        return value

    def _eval_between_navigations(self, expression: str) -> Any:
        """`expression`'s value, or None when a navigation took its document away while it was evaluated."""
        try:
            return self.eval(expression)
        except Navigated:
            return None

    def load_timings(self) -> dict[str, float]:
        """Milliseconds from the navigation's start: response end, DOMContentLoaded, load event, first paint."""
        self.wait("performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
        # The paint entry may come a frame after the load event.
        with contextlib.suppress(TimeoutError):
            self.wait("performance.getEntriesByName('first-contentful-paint').length > 0", seconds=5)
        return dict(
            self.eval(
                "(n => ({response: n.responseEnd, dom: n.domContentLoadedEventEnd, load: n.loadEventEnd,"
                " paint: (performance.getEntriesByName('first-contentful-paint')[0] || {startTime: -1}).startTime}))"
                "(performance.getEntriesByType('navigation')[0])"
            )
        )

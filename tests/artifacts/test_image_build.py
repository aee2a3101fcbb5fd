"""The container image built for real with buildah on a local Debian base, then run: version, user, demo, health."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter import __version__
from tests.support import ROOT

# Opt-in (`bash tests/run --image`, or `pytest -m image`): the build costs minutes, so pyproject's addopts
# deselect it by default.
pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

# The base stands in for python:3.11-slim, which cannot be pulled here: Debian's own python3 (3.11 in
# bookworm) with venv and pip for the stages' `python -m pip wheel` and `python -m venv`, and
# python-is-python3 for the `python` the Dockerfile calls (python:3.11-slim has it in /usr/local/bin).
DEBIAN_RELEASE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
# Everything the test keeps between runs (the buildah store with the base image): a second run skips
# debootstrap. Delete the folder to start over.
CACHE = Path(os.environ.get("AVEPOINT_IMAGE_CACHE", "/var/tmp/avepoint-exporter-image"))
# The host's CA bundle goes into the base, and pip is told to use it: behind a TLS-inspecting proxy (as on
# the machine this was first run on) pip inside the build cannot reach the index otherwise. Elsewhere it is
# the same public roots the base already trusts. The image under test gets it only from its base.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_host_ca = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.is_file() else b""
BASE_KEY = hashlib.sha256(
    b" ".join((DEBIAN_RELEASE.encode(), DEBIAN_MIRROR.encode(), *(p.encode() for p in BASE_PACKAGES), _host_ca))
).hexdigest()[:12]
BASE_IMAGE = f"localhost/avepoint-exporter-test-base:{DEBIAN_RELEASE}-{BASE_KEY}"
IMAGE = "localhost/avepoint-backup-exporter:image-test"
UID = 65532


def missing_prerequisites() -> str | None:
    if os.geteuid() != 0:
        return "the image build needs root (buildah with vfs storage and chroot isolation, debootstrap)"
    absent = [tool for tool in ("buildah", "debootstrap", "unshare", "nsenter", "ip") if shutil.which(tool) is None]
    if absent:
        return f"{', '.join(absent)} not installed: `bash tests/run --image` installs buildah and debootstrap"
    return None


def buildah(*args: str) -> list[str]:
    # A store of the test's own (not root's default one) so nothing else's images are touched or needed.
    store = ["--root", str(CACHE / "storage"), "--runroot", str(CACHE / "run"), "--storage-driver", "vfs"]
    return ["buildah", *store, *args]


def run(cmd: list[str], timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    assert result.returncode == 0, f"{shlex.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def ensure_base() -> None:
    """The Debian base image, made once with debootstrap and imported into the test's store."""
    if subprocess.run(buildah("inspect", "--type", "image", BASE_IMAGE), capture_output=True).returncode == 0:
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}"]
        run([*cmd, DEBIAN_RELEASE, str(rootfs), DEBIAN_MIRROR], timeout=1200)
        if _host_ca:
            (rootfs / HOST_CA_BUNDLE.relative_to("/")).write_bytes(_host_ca)
            (rootfs / "etc/pip.conf").write_text(f"[global]\ncert = {HOST_CA_BUNDLE}\n")
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", f"{tmp}/rootfs.tar", "."], timeout=300)
        shutil.rmtree(rootfs)
        (Path(tmp) / "Containerfile").write_text('FROM scratch\nADD rootfs.tar /\nCMD ["/bin/bash"]\n')
        run(buildah("bud", "--isolation", "chroot", "-t", BASE_IMAGE, tmp), timeout=600)


@pytest.fixture(scope="module")
def image() -> Iterator[dict[str, Any]]:
    """The Dockerfile built on the Debian base; yields the image's Docker config (User, Entrypoint, Healthcheck)."""
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    ensure_base()
    # Docker format: the OCI format has no HEALTHCHECK, and buildah would drop it.
    build = ["bud", "--isolation", "chroot", "--format", "docker", "--pull=never"]
    run(buildah(*build, "--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}", "-t", IMAGE, str(ROOT)), timeout=1200)
    try:
        inspected = json.loads(run(buildah("inspect", "--type", "image", IMAGE)).stdout)
        config: dict[str, Any] = inspected["Docker"]["config"]
        yield config
    finally:
        subprocess.run(buildah("rmi", "-f", IMAGE), capture_output=True, check=False)


@pytest.fixture(scope="module")
def netns() -> Iterator[list[str]]:
    """A private network namespace (loopback only) for the containers: port 9877 as the image has it, and
    nothing on the host's loopback can answer for the exporter or collide with it."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "1800"])
    try:
        # Until unshare has run, the holder's namespace is still ours: bringing "its" loopback up then would
        # leave the containers' one down.
        ours, theirs = os.readlink("/proc/self/ns/net"), f"/proc/{holder.pid}/ns/net"
        deadline = time.monotonic() + 10
        while os.readlink(theirs) == ours:
            assert time.monotonic() < deadline, "unshare --net did not create a network namespace"
            time.sleep(0.01)
        enter = ["nsenter", f"--net={theirs}", "--"]
        run([*enter, "ip", "link", "set", "lo", "up"])
        yield enter
    finally:
        holder.kill()
        holder.wait(timeout=10)


@pytest.fixture(scope="module")
def container(image: dict[str, Any]) -> Iterator[str]:
    name = run(buildah("from", "--pull-never", IMAGE)).stdout.strip()
    try:
        yield name
    finally:
        subprocess.run(buildah("rm", name), capture_output=True, check=False)


def in_container(enter: list[str], name: str, *cmd: str) -> list[str]:
    return [*enter, *buildah("run", "--isolation", "chroot", name, "--", *cmd)]


def test_version_from_the_entrypoint(image: dict[str, Any], container: str, netns: list[str]) -> None:
    assert image["Entrypoint"] == ["avepoint-backup-exporter"]
    result = run(in_container(netns, container, *image["Entrypoint"], "--version"))
    assert result.stdout.strip() == f"avepoint-backup-exporter {__version__}"


def test_runs_as_the_unprivileged_user(image: dict[str, Any], container: str, netns: list[str]) -> None:
    assert image["User"] == f"{UID}:{UID}"
    ids_of = "import os; print(os.getuid(), os.getgid())"
    ids = run(in_container(netns, container, "/opt/venv/bin/python", "-c", ids_of))
    assert ids.stdout.split() == [str(UID), str(UID)]
    # The state directory is the one place it may write.
    probe = "import pathlib; p = pathlib.Path('state.probe'); p.write_text('x'); p.unlink(); print(pathlib.Path.cwd())"
    assert run(in_container(netns, container, "/opt/venv/bin/python", "-c", probe)).stdout.strip() == (
        "/var/lib/avepoint-exporter"
    )


SCRAPE = """
import re, sys, time, urllib.request
deadline = time.monotonic() + 30
body = ""
while time.monotonic() < deadline:
    try:
        body = urllib.request.urlopen("http://127.0.0.1:9877/metrics", timeout=5).read().decode()
    except OSError:
        body = ""
    if re.search(r"^avepoint_up 1\\.0$", body, flags=re.MULTILINE):
        break
    time.sleep(0.2)
sys.stdout.write(body)
"""


def test_demo_serves_metrics_and_passes_the_healthcheck(
    image: dict[str, Any], container: str, netns: list[str]
) -> None:
    health = image["Healthcheck"]["Test"]
    assert health[0] == "CMD", health
    # The image's own entrypoint and listen address: only the config file argument is swapped for --demo.
    demo = subprocess.Popen(
        in_container(netns, container, *image["Entrypoint"], "--demo"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        body = run(in_container(netns, container, "python", "-c", SCRAPE), timeout=60).stdout
        if "\navepoint_up 1.0\n" not in body:
            os.killpg(demo.pid, signal.SIGTERM)
            _, err = demo.communicate(timeout=15)
            pytest.fail(f"no avepoint_up 1.0 within 30 s; scraped {body[-1000:]!r}; the exporter said: {err[-2000:]}")
        assert f'avepoint_exporter_build_info{{version="{__version__}"}} 1.0' in body
        assert "\navepoint_backup_job_status{" in body, body[-2000:]
        # The HEALTHCHECK exactly as the image carries it.
        assert run(in_container(netns, container, *health[1:]), timeout=30).returncode == 0
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
            try:
                demo.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.communicate(timeout=10)
    # ... and it fails once nothing answers.
    dead = subprocess.run(in_container(netns, container, *health[1:]), capture_output=True, timeout=30)
    assert dead.returncode != 0

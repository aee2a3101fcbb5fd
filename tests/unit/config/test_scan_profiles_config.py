"""The scan-profile group's config: off by default, its scope per API version, its bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter import config
from exporter.errors import ConfigError

AUTH = "auth: {client_id: app, client_secret: s}\n"


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> config.Config:
    path = tmp_path / "config.yml"
    path.write_text(AUTH + text)
    return config.load(path, env=env or {})


def test_off_by_default_with_a_bound(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    assert cfg.endpoints.scan_profiles is False
    assert cfg.scan_profiles.max_per_customer == 100
    assert not any("scanprofiles" in scope for scope in cfg.auth.scopes)


@pytest.mark.parametrize(
    ("version", "scope"), [("legacy", "partner.scanprofiles.read.all"), ("v3", "elements.scanprofiles.read.all")]
)
def test_the_group_asks_for_its_scope(tmp_path: Path, version: str, scope: str) -> None:
    cfg = load(tmp_path, f"api: {{version: {version}}}\nendpoints: {{scan_profiles: true}}\n")
    assert cfg.auth.scopes[-1] == scope and len(cfg.auth.scopes) == 3
    # Without jobs: the listing's scope and this group's.
    cfg = load(tmp_path, f"api: {{version: {version}}}\nendpoints: {{scan_profiles: true, jobs: false}}\n")
    assert cfg.auth.scopes[1:] == (scope,)


def test_environment_sets_both_keys(tmp_path: Path) -> None:
    env = {"AVEPOINT_ENDPOINTS_SCAN_PROFILES": "true", "AVEPOINT_SCAN_PROFILES_MAX_PER_CUSTOMER": "7"}
    cfg = load(tmp_path, "", env)
    assert cfg.endpoints.scan_profiles is True and cfg.scan_profiles.max_per_customer == 7
    with pytest.raises(ConfigError, match=r"^scan_profiles\.max_per_customer: must be an integer, not 'many'$"):
        load(tmp_path, "scan_profiles: {max_per_customer: many}\n")

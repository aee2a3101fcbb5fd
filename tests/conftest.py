"""Fixtures every test directory shares. Builders and servers that tests call live in tests/support/."""

from __future__ import annotations

import pytest

from tests.support.pki import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """One throwaway PKI for the whole run: making keys is the slow part of the TLS tests."""
    return make_pki(tmp_path_factory.mktemp("pki"))

"""Shared fixtures: one smoke run of every experiment and one site build from it, per session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def run_build(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """python build_results.py ARGS, output captured."""
    return subprocess.run([PYTHON, str(ROOT / "build_results.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory) -> Path:
    """Every registered experiment, smoke profile, into a temporary results folder."""
    results = tmp_path_factory.mktemp("smoke") / "results"
    cache = tmp_path_factory.mktemp("cache")
    proc = run_build("--profile", "smoke", "--results", str(results), env={"HW1_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return results


@pytest.fixture(scope="session")
def built_site(smoke_results, tmp_path_factory) -> Path:
    """`mkdocs build --strict` of the real pages over the smoke results."""
    site = tmp_path_factory.mktemp("site")
    proc = subprocess.run([str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HW1_RESULTS": str(smoke_results), "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


@pytest.fixture(scope="module")
def site(request) -> Path:
    """The site under test: $HW1_TEST_SITE (an already built site, for quick runs) or the smoke build."""
    given = os.environ.get("HW1_TEST_SITE")
    return Path(given) if given else request.getfixturevalue("built_site")

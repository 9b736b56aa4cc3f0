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


def without_timing(value):
    """A metrics value with every key named `timing` removed, at any depth (what a rerun must match)."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k != "timing"}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def run_build(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """python build_results.py ARGS, output captured."""
    return subprocess.run(
        [PYTHON, str(ROOT / "build_results.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


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
    proc = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HW1_RESULTS": str(smoke_results), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


@pytest.fixture(scope="module")
def site(request) -> Path:
    """The site under test: $HW1_TEST_SITE (an already built site, for quick runs) or the smoke build."""
    given = os.environ.get("HW1_TEST_SITE")
    return Path(given) if given else request.getfixturevalue("built_site")


def statuses(stdout: str) -> dict[str, str]:
    """{experiment: status} from the summary table build_results.py prints."""
    from hw1.experiments import EXPERIMENTS

    rows = (line.split() for line in stdout.splitlines())
    return {row[0]: row[1] for row in rows if len(row) >= 2 and row[0] in EXPERIMENTS}


def fake_results(
    results: Path,
    name: str,
    profile: str,
    data_root: Path,
    cache: Path,
    commit: str = "abc123def456",
    metrics: dict | None = None,
) -> dict:
    """results/<name>/ as this checkout would make it (a fresh provenance, without running anything):
    for tests of the freshness logic. Returns the provenance written."""
    import json

    from hw1.experiments import EXPERIMENTS
    from hw1.runner.freshness import Current
    from hw1.train.precision import choose_precision

    current = Current.of(EXPERIMENTS[name], profile, data_root, cache)
    if current.inputs is None:  # not present here: the key's input hash is not compared then
        current.inputs = {}
    precision = choose_precision(current.values.get("precision", "auto"), "cpu")  # what this machine uses
    key = current.key("cpu", precision)
    provenance = {
        "experiment": name,
        "profile": profile,
        "device": "cpu",
        "device_type": "cpu",
        "precision": precision,
        "git_commit": commit,
        "code_files": list(current.code),
        "code_hashes": current.code,
        "config": current.values,
        "inputs": current.inputs,
        "key": key,
    }
    folder = results / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics or {"value": 1.0}))
    (folder / "provenance.json").write_text(json.dumps(provenance))
    return provenance

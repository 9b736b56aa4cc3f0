"""The cache key and --check: what makes stored results stale, and what only deserves a note."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from conftest import PYTHON, ROOT, fake_results, run_build
from hw1.experiments import EXPERIMENTS
from hw1.runner import cli
from hw1.runner.freshness import Current, compare, read_stored

SPEC = EXPERIMENTS["attention_scaling"]


@pytest.fixture
def stored(tmp_path):
    """(Current, provenance) of attention_scaling, smoke profile, as this checkout would make it."""
    current = Current.of(SPEC, "smoke", tmp_path / "no-data", tmp_path / "cache")
    provenance = fake_results(
        tmp_path / "results", SPEC.name, "smoke", tmp_path / "no-data", tmp_path / "cache"
    )
    return current, provenance


def test_key_has_device_precision_and_versions(stored):
    current, provenance = stored
    key = provenance["key"]
    assert {"code", "config", "inputs", "profile", "versions", "device_type", "precision"} <= set(key)
    assert set(key["versions"]) == {"torch", "transformers", "tokenizers", "numpy"}
    assert key["versions"]["torch"].startswith("2.13")
    assert compare(current, provenance, "", "cpu", "fp32").fresh


def test_each_stale_part_is_named(stored):
    current, provenance = stored
    p = json.loads(json.dumps(provenance))
    p["key"]["code"] = "0" * 64
    p["code_hashes"]["src/hw1/experiments/base.py"] = "ast1:" + "0" * 64
    p["key"]["config"] = "0" * 64
    p["config"]["num_queries"] = 1
    p["key"]["versions"]["torch"] = "2.0.0"
    p["key"]["profile"] = "cpu"
    verdict = compare(current, p, "", "cpu", "fp32")
    assert verdict.stale == [
        "profile cpu -> smoke",
        "code changed: src/hw1/experiments/base.py",
        "config changed: num_queries",
        f"versions changed: torch 2.0.0 -> {current.versions['torch']}",
    ]


def test_device_or_precision_alone_is_a_note_not_a_rerun(stored):
    current, provenance = stored
    provenance["key"]["precision"] = "bf16"
    verdict = compare(current, provenance, "", "cpu", "fp32")
    assert verdict.fresh
    assert verdict.notes == ["made with bf16 on cpu; this machine would use fp32: --force reruns here"]
    # the local part of a version names the build (cpu/cuda): the device question, not a rerun
    provenance["key"]["versions"]["torch"] = current.versions["torch"].split("+")[0] + "+cu126"
    assert compare(current, provenance, "", "cpu", "fp32").fresh


def test_absent_inputs_are_kept_from_their_commit(tmp_path):
    spec = EXPERIMENTS["classification"]
    provenance = fake_results(tmp_path / "r", spec.name, "cpu", tmp_path / "no-data", tmp_path / "c")
    current = Current.of(spec, "cpu", tmp_path / "no-data", tmp_path / "c")
    assert current.inputs is None and "does not exist" in current.inputs_missing
    verdict = compare(current, provenance)
    assert verdict.fresh and verdict.notes == ["inputs not present here; kept from abc123def456"]


def test_unreadable_results_count_as_missing(stored, tmp_path):
    folder = tmp_path / "results" / SPEC.name
    (folder / "metrics.json").write_text('{"unscaled": {"4": ')
    provenance, problem = read_stored(folder)
    assert provenance is None and problem.startswith(f"results unreadable: {folder / 'metrics.json'}: ")


def test_git_commit_is_taken_once_before_running(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "git_describe", lambda: calls.append(1) or "c0ffee123456")
    results = tmp_path / "results"
    code = cli.main(["--profile", "smoke", "--only", "attention_scaling", "--results", str(results)])
    assert code == 0 and calls == [1]
    assert json.loads((results / SPEC.name / "provenance.json").read_text())["git_commit"] == "c0ffee123456"


def _check(results, data_root, cache) -> tuple[subprocess.CompletedProcess, float]:
    """build_results.py --check, reporting whether torch got imported."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['build_results.py', '--check', '--results', {str(results)!r}, "
        f"'--data-root', {str(data_root)!r}]\n"
        "try:\n    runpy.run_path('build_results.py', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print('torch imported:', 'torch' in sys.modules)\nsys.exit(code)\n"
    )
    start = time.monotonic()
    proc = subprocess.run(
        [PYTHON, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"HW1_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")},
    )  # this checkout's hw1 (a worktree's too)
    return proc, time.monotonic() - start


def test_check_all_fresh_is_fast_and_imports_no_torch(tmp_path):
    results, data, cache = tmp_path / "results", tmp_path / "no-data", tmp_path / "cache"
    data.mkdir()
    for name in EXPERIMENTS:
        fake_results(results, name, "cpu", data, cache)
    proc, seconds = _check(results, data, cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all results are fresh" in proc.stdout and "torch imported: False" in proc.stdout
    assert (
        "classification     fresh    cpu profile, from abc123def456 (inputs not present here; "
        "kept from abc123def456)" in proc.stdout
    )
    assert seconds < 3.0, f"--check took {seconds:.1f} s"


def test_check_names_each_stale_experiment_and_why(tmp_path):
    results, data, cache = tmp_path / "results", tmp_path / "no-data", tmp_path / "cache"
    data.mkdir()
    for name in EXPERIMENTS:
        fake_results(results, name, "cpu", data, cache)
    p = json.loads((results / "bert" / "provenance.json").read_text())
    p["key"]["config"], p["config"]["seed"] = "0" * 64, 99
    first = next(iter(p["code_hashes"]))
    p["key"]["code"], p["code_hashes"][first] = "0" * 64, "ast1:" + "0" * 64
    (results / "bert" / "provenance.json").write_text(json.dumps(p))
    (results / "segmentation" / "metrics.json").write_text("{")
    proc, _ = _check(results, data, cache)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.split()}
    assert f"STALE    code changed: {first}; config changed: seed  [cpu profile" in lines["bert"]
    assert (
        "missing  results unreadable: " in lines["segmentation"] and "metrics.json" in lines["segmentation"]
    )
    assert " fresh " in lines["attention_scaling"] and " fresh " in lines["classification"]
    assert "2 to rerun: python build_results.py --profile cpu --only bert,segmentation" in proc.stdout


def test_ci_and_pages_run_the_check():
    assert ".venv/bin/python build_results.py --check" in (ROOT / ".ci/run").read_text()
    assert "python build_results.py --check" in (ROOT / ".github/workflows/pages.yml").read_text()


def test_no_file_edits_sys_path():
    offenders = []
    for path in [
        *ROOT.glob("*.py"),
        *ROOT.glob("src/**/*.py"),
        *ROOT.glob("benchmarks/*.py"),
        *ROOT.glob("notebooks/*.ipynb"),
    ]:
        if "sys.path.insert" in path.read_text(encoding="utf-8") or "sys.path.append" in path.read_text():
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    assert "PYTHONPATH" not in (ROOT / "Makefile").read_text()
    assert "pythonpath" not in (ROOT / "pyproject.toml").read_text()
    proc = run_build("--list")
    assert proc.returncode == 0 and "attention_scaling" in proc.stdout

"""build_results.py: caching, --force, atomic results under interruption, clear errors."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PYTHON, ROOT, run_build, statuses
from hw1 import config, runner
from hw1.experiments import EXPERIMENTS


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_smoke_run_writes_results_and_provenance(smoke_results):
    for name in EXPERIMENTS:
        folder = smoke_results / name
        metrics = json.loads((folder / "metrics.json").read_text())
        provenance = json.loads((folder / "provenance.json").read_text())
        assert metrics, f"{name}: empty metrics"
        assert provenance["profile"] == "smoke"
        for field in (
            "device_name",
            "versions",
            "git_commit",
            "seed",
            "started_at",
            "duration_s",
            "inputs",
            "key",
            "precision",
            "threads",
            "machine",
            "code_hashes",
        ):
            assert field in provenance, f"{name}: provenance lacks {field}"
        assert provenance["versions"]["torch"].startswith("2.13")
    assert not list(smoke_results.glob(".tmp-*")), "a temporary folder was left behind"


def test_second_run_is_all_cached_and_fast(smoke_results):
    start = time.monotonic()
    proc = run_build("--profile", "smoke", "--results", str(smoke_results))
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert statuses(proc.stdout) == {name: "cached" for name in EXPERIMENTS}, proc.stdout
    assert elapsed < 2.0, f"a no-op run took {elapsed:.2f} s"


def test_force_reruns_and_changed_config_invalidates(tmp_path):
    results = tmp_path / "results"
    assert (
        run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results)).returncode
        == 0
    )
    first = json.loads((results / "attention_scaling" / "provenance.json").read_text())
    proc = run_build(
        "--profile", "smoke", "--only", "attention_scaling", "--results", str(results), "--force"
    )
    assert proc.returncode == 0 and statuses(proc.stdout) == {"attention_scaling": "ran"}, proc.stdout
    second = json.loads((results / "attention_scaling" / "provenance.json").read_text())
    assert second["started_at"] >= first["started_at"] and second["key"] == first["key"]
    # A different profile is a different key: the smoke results do not count as the cpu ones.
    values_cpu = config.read("attention_scaling", "cpu").values
    assert runner.stable_hash(values_cpu) != first["key"]["config"]


def test_code_hash_follows_imports():
    files = {p.name for p in runner.code_files("hw1.experiments.attention_scaling")}
    assert {"attention_scaling.py", "base.py"} <= files
    assert "runner.py" not in files  # the runner does not change an experiment's results


def test_interrupted_run_leaves_previous_results_byte_identical(tmp_path):
    results = tmp_path / "results"
    assert (
        run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results)).returncode
        == 0
    )
    before = tree_digest(results / "attention_scaling")
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen(
            [
                PYTHON,
                str(ROOT / "build_results.py"),
                "--profile",
                "cpu",
                "--force",
                "--only",
                "attention_scaling",
                "--results",
                str(results),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not list(results.glob(".tmp-*")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert list(results.glob(".tmp-*")), "the run never started writing"
        time.sleep(0.3)  # mid-experiment
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode != 0
        if sig == signal.SIGINT:
            assert "interrupted" in out
        assert tree_digest(results / "attention_scaling") == before
    # The next run cleans what the killed one left behind and is cached again.
    proc = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results))
    assert statuses(proc.stdout) == {"attention_scaling": "cached"} and not list(results.glob(".tmp-*"))


def test_missing_data_is_a_clear_error_and_others_still_run(tmp_path):
    results = tmp_path / "results"
    empty = tmp_path / "empty-data-folder"
    empty.mkdir()
    proc = run_build(
        "--profile",
        "cpu",
        "--only",
        "classification,attention_scaling",
        "--results",
        str(results),
        "--data-root",
        str(empty),
    )
    assert proc.returncode == 2
    assert (
        f"error: classification: cifar10 not found under {empty}: expected cifar10-jpeg.tar.gz" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert (results / "attention_scaling" / "metrics.json").is_file()
    assert not (results / "classification").exists()
    assert statuses(proc.stdout) == {"classification": "failed", "attention_scaling": "ran"}


def test_corrupt_archive_is_a_clear_error(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "cifar10-jpeg.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 this is not really gzip" * 100)
    (data / "camvid-segnet.tar.gz").write_bytes(b"PK\x03\x04 nor is this a tarball")
    results = tmp_path / "results"
    proc = run_build(
        "--profile",
        "cpu",
        "--only",
        "classification,segmentation",
        "--results",
        str(results),
        "--data-root",
        str(data),
        env={"HW1_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 2
    assert "cifar10-jpeg.tar.gz" in proc.stderr and "camvid-segnet.tar.gz" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(results.glob("*/metrics.json"))


def test_bad_options_name_the_option():
    proc = run_build("--only", "nonsense")
    assert proc.returncode == 2 and "--only" in proc.stderr and "nonsense" in proc.stderr
    proc = run_build("--profile", "huge")
    assert proc.returncode == 2 and "--profile" in proc.stderr


def test_missing_profile_section_is_a_config_error(tmp_path):
    (tmp_path / "x.yaml").write_text("common: {}\nprofiles: {cpu: {}}\n")
    with pytest.raises(runner.ConfigError, match="smoke"):
        config.read("x", "smoke", config_dir=tmp_path)


def test_plain_progress_lines_when_not_a_terminal(tmp_path):
    proc = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(tmp_path / "r"))
    assert "[attention_scaling] dimensions: 5/5" in proc.stderr
    assert "\r" not in proc.stderr


def test_a_second_run_on_the_same_results_folder_is_refused(tmp_path):
    results = tmp_path / "results"
    holder = runner.lock_results(results)
    try:
        proc = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results))
    finally:
        holder.close()
    assert proc.returncode == 2 and "another build_results.py is writing to" in proc.stderr
    assert not (results / "attention_scaling").exists()

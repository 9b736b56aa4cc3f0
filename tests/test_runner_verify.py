"""build_results.py --verify: a rerun into a temporary folder, compared metric by metric."""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import run_build, statuses
from hw1.experiments import EXPERIMENTS
from hw1.runner import audit
from hw1.runner.audit import setup_differences
from hw1.site import hook


def digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def results(tmp_path):
    results = tmp_path / "results"
    proc = run_build(
        "--profile",
        "smoke",
        "--only",
        "attention_scaling",
        "--results",
        str(results),
        env={"HW1_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return results


def test_every_experiment_declares_headline_metrics():
    for spec in EXPERIMENTS.values():
        assert spec.headline and spec.tolerance_across > 0, spec.name
    assert EXPERIMENTS["bert"].headline == (
        "pretraining.heldout.mlm_top1",
        "pretraining.heldout.nsp_accuracy",
        "pretraining.heldout.mlm_loss",
    )


def test_verify_on_the_same_machine_is_exact_and_leaves_results_alone(results, tmp_path):
    folder = results / "attention_scaling"
    before = digest(folder)
    proc = run_build(
        "--verify",
        "attention_scaling",
        "--results",
        str(results),
        env={"HW1_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "same setup: tolerance 0" in proc.stdout
    assert "unscaled.1024.max_weight" in proc.stdout and "FAIL" not in proc.stdout
    verify = json.loads((folder / "verify.json").read_text())
    assert verify["passed"] and verify["max_difference"] == 0 and verify["tolerance"] == 0
    assert {"date", "machine", "precision", "threads", "metrics"} <= set(verify)
    assert {n: h for n, h in digest(folder).items() if n != "verify.json"} == before
    # verify.json is not part of the cache key: the next run is still cached
    again = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results))
    assert statuses(again.stdout) == {"attention_scaling": "cached"}, again.stdout


def test_verify_fails_outside_the_tolerance(results, tmp_path):
    path = results / "attention_scaling" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["unscaled"]["1024"]["max_weight"] += 0.1
    path.write_text(json.dumps(metrics))
    proc = run_build(
        "--verify",
        "attention_scaling",
        "--results",
        str(results),
        env={"HW1_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 1
    row = next(line for line in proc.stdout.splitlines() if line.startswith("unscaled.1024.max_weight"))
    assert row.endswith("FAIL") and "0.1" in row
    assert "--verify: outside the tolerance: attention_scaling" in proc.stdout


def test_other_machine_or_precision_uses_the_stated_bound():
    a = {
        "device_type": "cpu",
        "precision": "bf16",
        "threads": 2,
        "machine": {"cpu": "X", "cpu_flags_sha256": "1"},
        "versions": {"torch": "2.13.0"},
    }
    assert setup_differences(a, json.loads(json.dumps(a))) == []
    b = {**a, "precision": "fp32", "machine": {"cpu": "Y", "cpu_flags_sha256": "2"}}
    assert setup_differences(a, b) == ["cpu: X -> Y", "cpu flags: 1 -> 2", "precision: bf16 -> fp32"]
    gpu = {**a, "device_type": "cuda"}  # the same GPU twice: its nondeterministic kernels still differ
    assert setup_differences(gpu, json.loads(json.dumps(gpu))) == [audit.CUDA_NONDETERMINISM]


def test_provenance_page_shows_verify_in_both_languages(tmp_path):
    folder = tmp_path / "attention_scaling"
    folder.mkdir()
    (folder / "verify.json").write_text(
        json.dumps(
            {
                "date": "2026-12-01T10:00:00+00:00",
                "device_name": "CPU: X (2 threads)",
                "precision": "fp32",
                "threads": 2,
                "passed": True,
                "max_difference": 0.0,
                "metrics": [
                    {
                        "metric": "scaled.1024.entropy",
                        "committed": 3.25,
                        "rerun": 3.25,
                        "difference": 0.0,
                        "tolerance": 1e-6,
                        "ok": True,
                    }
                ],
            }
        )
    )
    pages = {}
    for lang in ("fa", "en"):
        renderer = hook.PageRenderer(hook.Results(tmp_path), {}, {}, lang, "provenance/", hook.make_env())
        pages[lang] = renderer.render('{{ verify_table("attention_scaling") }}', f"provenance.{lang}.md")
    assert "within tolerance" in pages["en"] and "3.2500" in pages["en"] and "2026-12-01" in pages["en"]
    assert "در حد رواداری" in pages["fa"] and "۳٫۲۵۰۰" in pages["fa"] and "۲۰۲۶-۱۲-۰۱" in pages["fa"]
    assert "، با دقت" in pages["fa"] and "3.25" not in pages["fa"]
    empty = hook.PageRenderer(hook.Results(tmp_path / "none"), {}, {}, "en", "", hook.make_env())
    assert empty.render('{{ verify_table("attention_scaling") }}', "p.md") == ""

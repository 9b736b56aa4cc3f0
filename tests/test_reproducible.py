"""Same code, config, data, seed, thread count and machine -> the same numbers, byte for byte.

Two smoke runs of every experiment (separate processes, different PYTHONHASHSEED) must write
identical metrics.json (keys named `timing` aside: what was measured in seconds) and identical
tables (those named timing* aside).
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_build, without_timing


def comparable_files(results: Path) -> dict[str, str]:
    out = {}
    for path in sorted(results.rglob("*.json")):
        rel = path.relative_to(results)
        if rel.name in ("provenance.json", "verify.json") or rel.name.startswith("timing"):
            continue
        out[str(rel)] = json.dumps(
            without_timing(json.loads(path.read_text(encoding="utf-8"))), sort_keys=True
        )
    return out


def test_two_smoke_runs_give_identical_metrics_and_tables(smoke_results, tmp_path):
    again = tmp_path / "results"
    proc = run_build(
        "--profile",
        "smoke",
        "--results",
        str(again),
        env={"HW1_CACHE_DIR": str(tmp_path / "cache"), "PYTHONHASHSEED": "12345"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, second = comparable_files(smoke_results), comparable_files(again)
    assert set(first) == set(second) and any(name.endswith("metrics.json") for name in first)
    assert {e for e in (name.split("/")[0] for name in first)} >= {
        "attention_scaling",
        "bert",
        "segmentation",
        "classification",
    }
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, f"differ between two identical smoke runs: {differing}"

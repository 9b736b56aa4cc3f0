"""Issue #23: nothing silently wrong. One test (or more) per item, each fast; numbered as in the issue."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from conftest import ROOT


# 9. gpu_check.json outside the work tree's tracked folders --------------------------------------

def test_9_gpu_check_writes_under_the_cache_unless_told():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    assert gpu_check.parser().parse_args([]).out == ROOT / ".cache" / "gpu_check.json"
    assert gpu_check.parser().parse_args(["--out", "x.json"]).out == Path("x.json")


# 10. Ctrl-C while the stdlib corpus is built ------------------------------------------------------

def test_10_ctrl_c_during_a_stdlib_import_is_not_swallowed(tmp_path, monkeypatch):
    from hw1.data import stdlib_docs

    (tmp_path / "hw1_probe_interrupt.py").write_text("raise KeyboardInterrupt\n")
    (tmp_path / "hw1_probe_exit.py").write_text("raise SystemExit(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert stdlib_docs._import("hw1_probe_exit") is None          # a script module: skipped
    with pytest.raises(KeyboardInterrupt):
        stdlib_docs._import("hw1_probe_interrupt")
    for name in ("hw1_probe_interrupt", "hw1_probe_exit"):
        sys.modules.pop(name, None)

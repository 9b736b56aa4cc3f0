"""Issue #23: nothing silently wrong. One test (or more) per item, each fast; numbered as in the issue."""
from __future__ import annotations

import sys

import pytest


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

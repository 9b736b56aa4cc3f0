"""The GPU path, tested on the CPU where it can be (#23, item 10)."""

from __future__ import annotations

import torch

from hw1.runner import execute


def test_cuda_runs_ask_for_deterministic_kernels_and_say_so(monkeypatch):
    calls = []
    monkeypatch.setattr(
        torch, "use_deterministic_algorithms", lambda on, warn_only=False: calls.append((on, warn_only))
    )
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    said = execute.make_deterministic("cuda:0")
    import os

    assert calls == [(True, True)] and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert torch.backends.cudnn.benchmark is False
    assert "bilinear" in said and "tolerance_across" in said


def test_cpu_runs_are_left_as_they_are(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: calls.append(a))
    assert execute.make_deterministic("cpu") == execute.CPU_DETERMINISM and calls == []


def test_estimate_restores_the_cuda_random_state_too(monkeypatch):
    from hw1.train import loop

    restored = []
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: ["state"])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda s: restored.append(s))
    states = loop._rng_states("cuda")
    loop._restore_rng_states(states)
    assert restored == [["state"]]

"""The one training loop of every experiment, as flat as nanoGPT's train.py.

A run is `steps` optimizer steps. What happens at step s (the batch, its image size, the learning
rate) depends on s alone, so the same code, config, data, seed and thread count give the same
numbers; time is measured and reported, never decides anything.

    for step in 1..steps:
        batch = next_batch(step)                     # the experiment's data, on the device
        with autocast: loss, stats = loss_fn(batch)  # forward
        backward, clip, optimizer.step(), scheduler.step()
        every eval_every steps (and at the end): history.evals += evaluate(step)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from hw1.train.precision import autocast


@dataclass
class History:
    """One shape for every experiment's training curves (history.json and the plots read it)."""

    step: list = field(default_factory=list)  # every step ...
    train_loss: list = field(default_factory=list)  # ... and its training loss
    evals: list = field(default_factory=list)  # {"step", "train_<stat>" (window means), <evaluate()>}
    timing: dict = field(default_factory=dict)  # seconds, steps and items/s per phase

    def to_json(self) -> dict:
        return {"step": self.step, "train_loss": self.train_loss, "evals": self.evals, "timing": self.timing}

    def last(self) -> dict:
        return self.evals[-1] if self.evals else {}


def set_threads(threads: int | None) -> int:
    """Set torch's CPU thread count (when given); returns the previous one."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    return previous


class StepClock:
    """Seconds of each training step without waiting for the device at every step: on the CPU a
    step's work is done when its call returns (perf_counter around it is exact); on CUDA a pair of
    events is recorded around it and read when the loop synchronises anyway (logging, evaluation)."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")
        self.pending: list = []

    def start(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def stop(self, started) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.pending.append((started, event))
        else:
            self.pending.append((started, time.perf_counter()))

    def collect(self) -> list[float]:
        """The seconds of the steps stopped since the last call (synchronises on CUDA)."""
        if self.cuda:
            torch.cuda.synchronize()
            seconds = [a.elapsed_time(b) / 1000 for a, b in self.pending]
        else:
            seconds = [b - a for a, b in self.pending]
        self.pending = []
        return seconds


def train_step(
    model, optimizer, scheduler, batch, loss_fn, device: str, precision: str, grad_clip: float | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimizer step on one batch: the loss and the stats as detached 0-d tensors, left on the
    device (reading them as floats would wait for the device at every step)."""
    model.train()
    with autocast(device, precision):
        out = loss_fn(batch)
    loss, stats = out if isinstance(out, tuple) else (out, {})
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.detach(), {
        k: v.detach() if torch.is_tensor(v) else torch.tensor(float(v)) for k, v in stats.items()
    }


def fit(
    *,
    model: torch.nn.Module,
    optimizer,
    scheduler,
    steps: int,
    next_batch: Callable[[int], Any],
    loss_fn: Callable[[Any], Any],
    device: str,
    precision: str = "fp32",
    grad_clip: float | None = None,
    eval_every: int = 0,
    evaluate: Callable[[int], dict] | None = None,
    phase: Callable[[int], str] | None = None,
    items_per_step: int = 1,
    threads: int | None = None,
    progress=None,
    desc: str = "training",
) -> History:
    """Train `model` for `steps` steps. loss_fn(batch) returns the loss, or (loss, {name: scalar})
    whose values are averaged between evaluations into the eval points as train_<name>. phase(step)
    labels steps for the timing (e.g. the image size); its first step is timed apart (compilation).

    As in nanoGPT, the loop does not wait for the device at every step: losses and the running
    sums stay on the device and are read at each evaluation (and at the end), in one go."""
    previous_threads = set_threads(threads)
    history = History()
    window: dict[str, torch.Tensor] = {}  # running sums since the last evaluation, on the device
    window_steps = 0
    losses: list[torch.Tensor] = []  # the steps' losses since the last read
    labels: list[str] = []  # the steps' phase labels since the last read
    phases: dict[str, dict] = {}
    clock = StepClock(device)

    def read_pending() -> None:  # one synchronisation for all steps since the last one
        history.train_loss.extend(torch.stack(losses).float().tolist() if losses else [])
        for label, seconds in zip(labels, clock.collect()):
            p = phases.setdefault(label, {"steps": 0, "seconds": 0.0, "first_step_s": seconds})
            p["steps"] += 1
            p["seconds"] += seconds
        losses.clear()
        labels.clear()

    steps_iter = progress(range(1, steps + 1), desc=desc) if progress else range(1, steps + 1)
    start = time.perf_counter()
    try:
        for step in steps_iter:
            started = clock.start()
            loss, stats = train_step(
                model, optimizer, scheduler, next_batch(step), loss_fn, device, precision, grad_clip
            )
            clock.stop(started)
            history.step.append(step)
            losses.append(loss)
            labels.append(phase(step) if phase else "all")
            for k, v in {"loss": loss, **stats}.items():
                window[k] = window[k] + v.double() if k in window else v.double()
            window_steps += 1
            if evaluate and (step == steps or (eval_every and step % eval_every == 0)):
                read_pending()
                model.eval()
                with torch.no_grad():
                    point = {
                        "step": step,
                        **{f"train_{k}": float(v) / window_steps for k, v in window.items()},
                        **evaluate(step),
                    }
                history.evals.append(point)
                window, window_steps = {}, 0
        read_pending()
    finally:
        set_threads(previous_threads)
    trained = sum(p["seconds"] for p in phases.values())
    for p in phases.values():  # items/s without the phase's first step (compilation, warm-up)
        rest = p["seconds"] - p["first_step_s"]
        p["items_per_s"] = (p["steps"] - 1) * items_per_step / rest if p["steps"] > 1 and rest > 0 else None
    history.timing = {
        "train_s": trained,
        "wall_s": time.perf_counter() - start,
        "items_per_s": steps * items_per_step / trained if trained else None,
        "phases": phases,
    }
    return history


def _rng_states(device: str) -> tuple:
    cuda = torch.cuda.get_rng_state_all() if device.startswith("cuda") else None
    return torch.get_rng_state(), cuda


def _restore_rng_states(states: tuple) -> None:
    torch.set_rng_state(states[0])
    if states[1] is not None:
        torch.cuda.set_rng_state_all(states[1])


def estimate(
    *,
    model: torch.nn.Module,
    optimizer,
    scheduler,
    steps: int,
    next_batch,
    loss_fn,
    device: str,
    precision: str = "fp32",
    grad_clip: float | None = None,
    eval_every: int = 0,
    evaluate=None,
    phase=None,
    threads: int | None = None,
    warmup: int = 2,
    timed: tuple[int, int] = (3, 20),
    timed_seconds: float = 2.0,
    extra_evals: float = 0.0,
) -> float:
    """Seconds that fit() with the same arguments would take, from timed steps of each phase and one
    timed evaluation. Each phase: `warmup` untimed steps (compilation, and a recompilation the
    second call may bring), then at least timed[0] and at most timed[1] steps, stopping once
    timed_seconds have passed; their mean without the slowest one (a stray slow step is not the
    rule, but a mean counts the steady cost that a median of two missed: the MLP's tiny steps).
    extra_evals: evaluations after training, in units of one validation pass (e.g. a test set twice
    the size: 2). Model, optimizer, scheduler and the random states (CPU and CUDA) are restored
    afterwards, so the run that follows is unchanged."""
    import copy

    saved = (
        copy.deepcopy(model.state_dict()),
        copy.deepcopy(optimizer.state_dict()),
        scheduler.state_dict() if scheduler is not None else None,
        _rng_states(device),
    )
    previous_threads = set_threads(threads)
    counts: dict[str, list[int]] = {}
    for step in range(1, steps + 1):
        counts.setdefault(phase(step) if phase else "all", []).append(step)
    clock = StepClock(device)
    total = 0.0
    try:
        for _, members in counts.items():
            for k in range(warmup):
                train_step(
                    model,
                    optimizer,
                    scheduler,
                    next_batch(members[min(k, len(members) - 1)]),
                    loss_fn,
                    device,
                    precision,
                    grad_clip,
                )
            clock.collect()
            seconds: list[float] = []
            t0 = time.perf_counter()
            while len(seconds) < timed[1] and (
                len(seconds) < timed[0] or time.perf_counter() - t0 < timed_seconds
            ):
                started = clock.start()
                step = members[min(warmup + len(seconds), len(members) - 1)]
                train_step(
                    model, optimizer, scheduler, next_batch(step), loss_fn, device, precision, grad_clip
                )
                clock.stop(started)
                seconds += clock.collect()
            kept = sorted(seconds)[:-1]
            total += sum(kept) / len(kept) * len(members)
        if evaluate is not None:
            model.eval()
            t0 = time.perf_counter()
            with torch.no_grad():
                evaluate(0)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            evals = (steps // eval_every if eval_every else 0) + (
                0 if eval_every and steps % eval_every == 0 else 1
            )
            total += (time.perf_counter() - t0) * (evals + extra_evals)
    finally:
        set_threads(previous_threads)
        model.load_state_dict(saved[0])
        optimizer.load_state_dict(saved[1])
        if scheduler is not None:
            scheduler.load_state_dict(saved[2])
        _restore_rng_states(saved[3])
    return total


def estimate_plan(plan: dict) -> float:
    """estimate() of a plan written for fit(): the arguments that change nothing in the time
    (items_per_step, progress, desc) are left out."""
    import inspect

    accepted = inspect.signature(estimate).parameters
    return estimate(**{k: v for k, v in plan.items() if k in accepted})


def time_steps(run_step: Callable[[], None], n: int = 3) -> float:
    """Seconds per call of run_step, the median of n after one warm-up call (for estimates)."""
    run_step()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run_step()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def log_estimate(
    ctx,
    plans: dict[str, dict],
    extra_evals: dict[str, float] | None = None,
    repeats: dict[str, int] | None = None,
) -> dict[str, float]:
    """Estimate each plan (fit() keyword arguments) and log one line before the work starts.
    extra_evals[label]: the evaluations after training (test set, evaluation scales), in validation
    passes; repeats[label]: how many runs like this one (e.g. seeds)."""
    extra_evals, repeats = extra_evals or {}, repeats or {}
    seconds = {
        label: estimate_plan({**kwargs, "extra_evals": extra_evals.get(label, 0.0)}) * repeats.get(label, 1)
        for label, kwargs in plans.items()
    }
    parts = ", ".join(f"{label} {s / 60:.1f} min" for label, s in seconds.items())
    ctx.log(
        f"estimated time: {parts}; {sum(seconds.values()) / 60:.1f} min in all "
        f"(training and evaluation, from timed steps and one timed validation pass)"
    )
    return seconds

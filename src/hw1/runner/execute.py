"""Deciding what to run (without torch), then running it (with torch, only then).

plan(): for each selected experiment, its configuration, what this checkout would make, and the
verdict against the stored results (see freshness). run_plans(): imports the modules of the
experiments that will run, checks all their configurations before running any, then runs each
one into a temporary folder and swaps it in.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from hw1 import config as hw1_config
from hw1.data import sources
from hw1.errors import ConfigError, ReportError
from hw1.experiments import ExperimentSpec
from hw1.experiments.base import Context, write_json
from hw1.runner import folders
from hw1.runner.freshness import Current, Verdict, compare, machine, output_hashes, read_stored, versions
from hw1.train.precision import choose_precision

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass
class Options:
    profile: str
    only: list[str]
    force: bool
    data_root: Path
    device: str | None  # as given with --device (None: cuda when available, else cpu)
    results: Path
    cache_dir: Path
    verbose: bool = False
    # {experiment: ((dotted key, value), ...)} from --set and --pretrained, applied over the profile
    overrides: dict = field(default_factory=dict)
    max_steps: int | None = None  # --max-steps (else $HW1_MAX_STEPS): the largest step count of a run

    def overrides_for(self, name: str) -> dict:
        """What the command line changed in an experiment's configuration (provenance's `overrides`)."""
        given = {"values": dict(self.overrides.get(name, ())), "max_steps": self.max_steps}
        return {k: v for k, v in given.items() if v}


@dataclass
class Outcome:
    name: str
    status: str  # ran | cached | failed | interrupted
    seconds: float
    message: str = ""
    bad_input: bool = False  # failed on a ConfigError or DataError (exit 2), not on a bug (exit 1)


@dataclass
class Plan:
    spec: ExperimentSpec
    device: str
    current: Current | None = None
    verdict: Verdict | None = None
    precision: str = ""
    error: str = ""  # a one-line ConfigError/DataError met while planning
    bug: bool = False  # the error is an exception of the code (traceback printed)
    warnings: list[str] = field(default_factory=list)

    @property
    def stored_profile(self) -> str | None:
        return (self.verdict.provenance or {}).get("profile") if self.verdict else None

    def must_run(self, force: bool) -> bool:
        return not self.error and (force or not self.verdict.fresh)

    def why(self, force: bool) -> str:
        return "; ".join(self.verdict.stale) if self.verdict.stale else "--force"


# ----- device -------------------------------------------------------------------------------------


def cuda_available() -> bool:
    """Asks torch only when an NVIDIA driver is there at all (importing torch costs a second)."""
    if not Path("/proc/driver/nvidia/version").exists():
        return False
    import torch

    return torch.cuda.is_available()


def resolve_device(requested: str | None) -> str:
    """--device as given -> the device to use; a one-line ConfigError naming --device otherwise."""
    if requested is not None and not DEVICE_PATTERN.fullmatch(requested):
        raise ConfigError(f"--device {requested}: expected cpu, cuda, cuda:N or auto")
    if requested in (None, "auto"):
        return "cuda" if cuda_available() else "cpu"
    if requested.startswith("cuda"):
        if not cuda_available():
            raise ConfigError(
                f"--device {requested}: CUDA is not available on this machine (use --device cpu)"
            )
        import torch

        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    return requested


def device_type(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


# ----- planning -----------------------------------------------------------------------------------


def plan_one(spec: ExperimentSpec, options: Options, device: str, profile: str | None = None) -> Plan:
    plan = Plan(spec, device)
    try:
        plan.current = Current.of(
            spec,
            profile or options.profile,
            options.data_root,
            options.cache_dir,
            tuple(options.overrides.get(spec.name, ())),
            options.max_steps,
        )
        setting = plan.current.values.get("precision", "auto")
        plan.precision = choose_precision(setting, device, option=f"{plan.current.source.file}: precision")
        stored, problem = read_stored(options.results / spec.name)
        plan.verdict = compare(plan.current, stored, problem, device_type(device), plan.precision)
        plan.warnings = sources.warnings_for(plan.current.inputs or {})
        if plan.must_run(options.force) and plan.current.inputs is None:
            plan.error = plan.current.inputs_missing
    except ReportError as error:
        plan.error = str(error)
    return plan


# ----- running ------------------------------------------------------------------------------------


def quiet_libraries(verbose: bool) -> None:
    """transformers' load reports and progress bars (and the Hub's) only with --verbose."""
    if verbose:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if "transformers" in sys.modules:
        sys.modules["transformers"].logging.set_verbosity_error()
        sys.modules["transformers"].logging.disable_progress_bar()


def typed_config(spec: ExperimentSpec, source: hw1_config.Source) -> tuple:
    """(module, typed Config) of an experiment (imports its module, and so torch); a ConfigError
    naming the file and key when a value is unknown or of the wrong type."""
    module = importlib.import_module(spec.module)
    return module, hw1_config.build(module.Config, source)


def load_modules(plans: list[Plan]) -> dict[str, tuple]:
    """{name: (module, typed config)} for every plan whose module imports and config checks out;
    the others get plan.error. All before any experiment runs: a typo fails in a second, not later."""
    loaded = {}
    for plan in plans:
        try:
            loaded[plan.spec.name] = typed_config(plan.spec, plan.current.source)
        except ReportError as error:
            plan.error = str(error)
        except Exception as error:  # an experiment's bug must not stop the others
            traceback.print_exc()
            plan.error, plan.bug = f"{type(error).__name__}: {error}", True
    return loaded


def _device_name(device: str, threads: int) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU: {machine()['cpu']} ({threads} threads)"


def _provenance(
    plan: Plan, key: dict, git: str, threads: int, started: tuple[str, float], outputs: dict, overrides: dict
) -> dict:
    import platform

    current = plan.current
    return {
        "experiment": plan.spec.name,
        "title": plan.spec.title,
        "profile": current.profile,
        "device": plan.device,
        "device_type": key["device_type"],
        "precision": plan.precision,
        "device_name": _device_name(plan.device, threads),
        "threads": threads,
        "machine": {**machine(), "threads": threads},
        "versions": {"python": platform.python_version(), **versions()},
        "git_commit": git,
        "code_files": list(current.code),
        "code_hashes": current.code,
        "config": current.values,
        "inputs": current.inputs,
        "seed": current.values.get("seed", 0),
        "started_at": started[0],
        "duration_s": round(time.monotonic() - started[1], 1),
        "key": key,
        "overrides": overrides,  # {} when the profile's configuration ran as written
        "outputs": outputs,  # every file the run wrote, with its sha256 (checked by --check)
    }


CPU_DETERMINISM = "deterministic: the CPU kernels used give the same bytes on a rerun (--verify: tolerance 0)"
CUDA_DETERMINISM = (
    "deterministic algorithms on (torch.use_deterministic_algorithms, warn_only; cuBLAS workspace "
    ":4096:8; cudnn.benchmark off), but a few CUDA kernels have no deterministic version (the "
    "backward of bilinear interpolation): --verify on the same GPU uses the experiment's "
    "tolerance_across, not 0"
)


def make_deterministic(device: str) -> str:
    """Ask for deterministic kernels on CUDA; what was done, for provenance (`determinism`)."""
    import os

    import torch

    if not device.startswith("cuda"):
        return CPU_DETERMINISM
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts: before any matmul
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    return CUDA_DETERMINISM


def estimated_seconds(metrics: dict) -> float | None:
    """The sum of the estimates an experiment logged before its work (metrics.timing.estimate_s)."""
    estimate = (metrics.get("timing") or {}).get("estimate_s")
    if isinstance(estimate, dict):
        return sum(v for v in estimate.values() if isinstance(v, (int, float))) or None
    return estimate if isinstance(estimate, (int, float)) else None


def run_one(plan: Plan, module, config, options: Options, git: str, default_threads: int) -> None:
    import random

    import numpy as np
    import torch

    values = plan.current.values
    seed, threads = int(values.get("seed", 0)), values.get("threads") or default_threads
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    determinism = make_deterministic(plan.device)
    key = plan.current.key(device_type(plan.device), plan.precision)
    started = (dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(), time.monotonic())
    tmp = folders.fresh_tmp(options.results, plan.spec.name)
    ctx = Context(
        name=plan.spec.name,
        profile=plan.current.profile,
        out_dir=tmp,
        data_root=options.data_root,
        device=plan.device,
        seed=seed,
        cache_dir=options.cache_dir,
        precision=plan.precision,
    )
    try:
        metrics = module.run(config, ctx)
        if not isinstance(metrics, dict):
            raise TypeError(f"{plan.spec.module}.run returned {type(metrics).__name__}, expected a dict")
        write_json(tmp / "metrics.json", metrics)
        provenance = _provenance(
            plan, key, git, threads, started, output_hashes(tmp), options.overrides_for(plan.spec.name)
        )
        estimate = estimated_seconds(metrics)
        if estimate:  # how far the estimate printed before the work was from what it took
            provenance["estimate_s"] = round(estimate, 1)
            print(
                f"[{plan.spec.name}] took {provenance['duration_s'] / 60:.1f} min; estimated "
                f"{estimate / 60:.1f} min beforehand ({estimate / max(provenance['duration_s'], 1e-9) - 1:+.0%})",
                file=sys.stderr,
            )
        write_json(tmp / "provenance.json", {**provenance, "determinism": determinism})
        folders.swap_in(tmp, options.results / plan.spec.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_plans(plans: list[Plan], options: Options, git: str) -> tuple[list[Outcome], bool]:
    """Outcomes in the plans' order, and whether the run was interrupted (Ctrl-C, SIGTERM)."""
    to_run = [p for p in plans if p.must_run(options.force)]
    loaded: dict[str, tuple] = {}
    if to_run:
        lock = folders.lock_results(options.results)  # noqa: F841  (held until the process exits)
        folders.recover(options.results)
        quiet_libraries(options.verbose)
        loaded = load_modules(to_run)
        quiet_libraries(options.verbose)
    outcomes, interrupted = [], False
    default_threads = 0
    for plan in plans:
        name, start = plan.spec.name, time.monotonic()
        if interrupted:
            outcomes.append(Outcome(name, "not run", 0.0, "interrupted before it started"))
        elif plan.error:
            print(f"error: {name}: {plan.error}", file=sys.stderr)
            outcomes.append(Outcome(name, "failed", 0.0, plan.error, bad_input=not plan.bug))
        elif name not in loaded:
            outcomes.append(Outcome(name, "cached", time.monotonic() - start, "; ".join(plan.verdict.notes)))
        else:
            import torch

            default_threads = default_threads or torch.get_num_threads()
            why = plan.why(options.force)
            print(f"[{name}] running: {why}", file=sys.stderr, flush=True)
            try:
                run_one(plan, *loaded[name], options, git, default_threads)
                outcomes.append(Outcome(name, "ran", time.monotonic() - start, why))
            except KeyboardInterrupt:
                outcomes.append(
                    Outcome(name, "interrupted", time.monotonic() - start, "previous results kept")
                )
                interrupted = True
            except ReportError as error:
                print(f"error: {name}: {error}", file=sys.stderr)
                outcomes.append(Outcome(name, "failed", time.monotonic() - start, str(error), bad_input=True))
            except Exception as error:  # an experiment's bug must not stop the others
                traceback.print_exc()
                outcomes.append(
                    Outcome(name, "failed", time.monotonic() - start, f"{type(error).__name__}: {error}")
                )
    return outcomes, interrupted


__all__ = ["Options", "Outcome", "Plan", "plan_one", "run_plans", "resolve_device", "typed_config"]

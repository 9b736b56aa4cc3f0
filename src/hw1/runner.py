"""Runs experiments into results/, like Quarto's freeze: only what changed is recomputed.

For each experiment the cache key is (code hash, resolved config, input fingerprints). When it
matches results/<name>/provenance.json the experiment is reported as cached and not run.
Otherwise it runs into results/.tmp-<name>-<pid>/ and is swapped in only on success, so a crash,
Ctrl-C or kill leaves the previous results byte-identical.

Nothing here imports torch until an experiment actually runs.
"""
from __future__ import annotations

import argparse
import ast
import datetime as dt
import hashlib
import importlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import yaml

from hw1.data import sources
from hw1.errors import ConfigError, ReportError
from hw1.experiments import EXPERIMENTS, ExperimentSpec
from hw1.experiments.base import Context, write_json

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SRC_ROOT = PROJECT_ROOT / "src"
PROFILES = ("smoke", "cpu", "gpu")


# ----- configuration ------------------------------------------------------------------------------

def load_config(name: str, profile: str, config_dir: Path = PROJECT_ROOT / "configs") -> dict:
    """configs/<name>.yaml: `common` merged with `profiles[profile]` (profile values win)."""
    path = config_dir / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"experiment {name!r} has no configuration file {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    profiles = data.get("profiles") or {}
    if profile not in profiles:
        raise ConfigError(f"{path}: no section for profile {profile!r} under 'profiles' "
                          f"(has: {', '.join(profiles) or 'none'})")
    return {**(data.get("common") or {}), **(profiles[profile] or {})}


# ----- cache key ----------------------------------------------------------------------------------

def _module_file(module: str) -> Path | None:
    base = SRC_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_hw1_modules(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "hw1")
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "hw1":
                continue
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules, if any
    return found


def code_files(module: str) -> list[Path]:
    """The experiment's module and every hw1 module it imports, transitively (found statically)."""
    seen: dict[str, Path] = {}
    stack = [module]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue  # a name imported from a module, not a module itself
        seen[name] = path
        stack.extend(_imported_hw1_modules(path, name))
    return sorted(set(seen.values()))


def code_hash(module: str) -> str:
    files = code_files(module)
    if not files:
        raise ConfigError(f"experiment module {module} not found under {SRC_ROOT}")
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(SRC_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def stable_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# ----- provenance ---------------------------------------------------------------------------------

def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu} ({torch.get_num_threads()} threads)"


def _versions() -> dict:
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for package in ("torch", "transformers", "tokenizers", "numpy"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    return versions


# ----- results folder -----------------------------------------------------------------------------

class ResultsBusy(ReportError):
    pass


def lock_results(results: Path):
    """One build_results.py per results folder: a second one would clean up the first one's work."""
    import fcntl

    results.mkdir(parents=True, exist_ok=True)
    handle = open(results / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ResultsBusy(f"another build_results.py is writing to {results} (lock {results / '.lock'}); "
                          "wait for it to finish") from None
    return handle  # the lock lasts as long as the handle is open


def recover(results: Path) -> None:
    """Undo what an interrupted swap or run left behind (called with the results folder locked)."""
    if not results.is_dir():
        return
    for leftover in results.glob(".old-*"):
        name = leftover.name[len(".old-"):].rsplit("-", 1)[0]
        target = results / name
        if target.exists():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.rename(target)
    for leftover in results.glob(".tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def swap_in(tmp: Path, final: Path) -> None:
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def stored_key(final: Path) -> dict | None:
    try:
        return json.loads((final / "provenance.json").read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError):
        return None


# ----- running ------------------------------------------------------------------------------------

@dataclass
class Outcome:
    name: str
    status: str          # ran | cached | failed | interrupted
    seconds: float
    message: str = ""


@dataclass
class Options:
    profile: str
    only: list[str]
    force: bool
    data_root: Path
    device: str | None
    results: Path
    cache_dir: Path


def run_one(spec: ExperimentSpec, options: Options) -> Outcome:
    start = time.monotonic()
    cfg = load_config(spec.name, options.profile)
    dataset_inputs = {"cifar10", "camvid"}
    inputs = tuple(i for i in spec.inputs if not (cfg.get("synthetic") and i in dataset_inputs))
    fingerprints = sources.fingerprint(inputs, options.data_root, options.cache_dir)
    key = {
        "code": code_hash(spec.module),
        "config": stable_hash(cfg),
        "inputs": stable_hash(sources.key_part(fingerprints)),
        "profile": options.profile,
    }
    final = options.results / spec.name
    if not options.force and stored_key(final) == key:
        return Outcome(spec.name, "cached", time.monotonic() - start)

    import random

    import numpy as np
    import torch

    from hw1.experiments.base import resolve_device

    device = resolve_device(options.device or cfg.get("device"))
    seed = int(cfg.get("seed", 0))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    module = importlib.import_module(spec.module)
    options.results.mkdir(parents=True, exist_ok=True)
    tmp = options.results / f".tmp-{spec.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    ctx = Context(name=spec.name, profile=options.profile, out_dir=tmp, data_root=options.data_root,
                  device=device, seed=seed, cache_dir=options.cache_dir)
    started_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    try:
        metrics = module.run(dict(cfg), ctx)
        if not isinstance(metrics, dict):
            raise TypeError(f"{spec.module}.run returned {type(metrics).__name__}, expected a dict of metrics")
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "provenance.json", {
            "experiment": spec.name,
            "title": spec.title,
            "profile": options.profile,
            "device": device,
            "device_name": _device_name(device),
            "versions": _versions(),
            "git_commit": _git_commit(),
            "code_files": [str(p.relative_to(PROJECT_ROOT)) for p in code_files(spec.module)],
            "config": cfg,
            "inputs": fingerprints,
            "seed": seed,
            "started_at": started_at,
            "duration_s": round(time.monotonic() - start, 1),
            "key": key,
        })
        swap_in(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Outcome(spec.name, "ran", time.monotonic() - start)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def print_summary(outcomes: list[Outcome]) -> None:
    width = max([len("experiment")] + [len(o.name) for o in outcomes])
    print(f"\n{'experiment':<{width}}  {'status':<11}  {'time':>8}")
    print(f"{'-' * width}  {'-' * 11}  {'-' * 8}")
    for o in outcomes:
        print(f"{o.name:<{width}}  {o.status:<11}  {o.seconds:>7.1f}s" + (f"  {o.message}" if o.message else ""))
    sys.stdout.flush()


def default_profile() -> str:
    # Importing torch costs a second; only ask it when an NVIDIA driver is there at all.
    if not Path("/proc/driver/nvidia/version").exists():
        return "cpu"
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="build_results.py",
        description="Run the report's experiments into results/ (only what changed, unless --force).")
    parser.add_argument("--profile", choices=PROFILES,
                        help="smoke: seconds, synthetic inputs (tests); cpu: the committed run on 2 cores; "
                             "gpu: the full run (default: gpu when CUDA is available, else cpu)")
    parser.add_argument("--only", default="", help="comma-separated experiments: " + ",".join(EXPERIMENTS))
    parser.add_argument("--force", action="store_true", help="rerun even when the cached results match")
    parser.add_argument("--data-root", type=Path,
                        default=Path(os.environ.get("HW1_DATA_ROOT", "data")),
                        help="folder with the datasets (default: $HW1_DATA_ROOT, then ./data)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    parser.add_argument("--results", type=Path, default=PROJECT_ROOT / "results",
                        help="results folder (default: results/)")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    args = parser.parse_args(argv)
    if args.list:
        for spec in EXPERIMENTS.values():
            print(f"{spec.name:<16} {spec.title}")
        raise SystemExit(0)
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in only if n not in EXPERIMENTS]
    if unknown:
        parser.error(f"--only: unknown experiment {', '.join(unknown)} (known: {', '.join(EXPERIMENTS)})")
    return Options(profile=args.profile or default_profile(), only=only, force=args.force,
                   data_root=args.data_root, device=args.device, results=args.results,
                   cache_dir=Path(os.environ.get("HW1_CACHE_DIR", PROJECT_ROOT / ".cache")))


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        lock = lock_results(options.results)  # noqa: F841  (held until the process exits)
    except ResultsBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    recover(options.results)
    selected = [EXPERIMENTS[n] for n in options.only] if options.only else list(EXPERIMENTS.values())
    print(f"profile {options.profile}, data root {options.data_root}, results {options.results}",
          file=sys.stderr)
    outcomes: list[Outcome] = []
    interrupted = False
    for spec in selected:
        start = time.monotonic()
        try:
            outcome = run_one(spec, options)
        except KeyboardInterrupt:
            outcomes.append(Outcome(spec.name, "interrupted", time.monotonic() - start,
                                    "previous results kept"))
            interrupted = True
            break
        except ReportError as error:
            print(f"error: {spec.name}: {error}", file=sys.stderr)
            outcome = Outcome(spec.name, "failed", time.monotonic() - start, str(error))
        except Exception as error:  # an experiment's bug must not stop the others
            traceback.print_exc()
            outcome = Outcome(spec.name, "failed", time.monotonic() - start,
                              f"{type(error).__name__}: {error}")
        outcomes.append(outcome)
    print_summary(outcomes)
    if interrupted:
        return 130
    return 1 if any(o.status == "failed" for o in outcomes) else 0

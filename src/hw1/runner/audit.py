"""`--check` (are the stored results what this checkout would make?) and `--verify` (does a rerun
here give the same headline numbers?).

--check imports no torch and reads no data beyond the archives' cached hashes: a second or two. Only
when a configuration differs from the stored one does it import that experiment (and torch) to type
check it: an invalid one is named as such, with the line a run would print, not called stale.
--verify reruns into a temporary folder (results/ is never touched, except results/<name>/verify.json,
which is not part of the cache key: neither the freshness check nor a rerun reads it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from hw1.data import sources
from hw1.errors import ReportError
from hw1.experiments import EXPERIMENTS, ExperimentSpec
from hw1.runner.freshness import Current, compare, read_stored, stable_hash


def invalid_config(spec: ExperimentSpec, current: Current) -> str:
    """The one line a run would print for this configuration ("" when it is valid, or cannot be checked
    here because the experiment's libraries are not installed: the site-only job has no torch)."""
    from hw1.runner.execute import typed_config

    try:
        typed_config(spec, current.source)
    except ReportError as error:
        return str(error)
    except ImportError:
        pass
    return ""


def check(data_root: Path, results: Path, cache_dir: Path, git: str) -> int:
    """One line per experiment; exit 1 when any is stale or missing, 2 when a configuration is invalid,
    0 when all are fresh."""
    print(f"checking {results} against this checkout ({git}), data root {data_root}")
    width = max(len(n) for n in EXPERIMENTS)
    stale: dict[str, str] = {}
    invalid = []
    for spec in EXPERIMENTS.values():
        stored, problem = read_stored(results / spec.name)
        if stored is None:
            print(f"{spec.name:<{width}}  missing  {problem}")
            stale[spec.name] = "cpu"
            continue
        profile = stored.get("profile", "cpu")
        try:
            current = Current.of(spec, profile, data_root, cache_dir)
            error = (
                invalid_config(spec, current)
                if stored["key"].get("config") != stable_hash(current.values)
                else ""
            )
        except ReportError as unreadable:
            error = str(unreadable)
        if error:
            print(f"{spec.name:<{width}}  INVALID  {error}")
            invalid.append(spec.name)
            continue
        for warning in sources.warnings_for(current.inputs or {}):
            print(f"warning: {spec.name}: {warning}", file=sys.stderr)
        verdict = compare(current, stored, problem)
        made = f"{profile} profile, from {stored.get('git_commit', 'an unknown commit')}"
        if verdict.stale:
            print(f"{spec.name:<{width}}  STALE    {'; '.join(verdict.stale)}  [{made}]")
            stale[spec.name] = profile
        else:
            notes = verdict.notes
            print(f"{spec.name:<{width}}  fresh    {made}" + (f" ({'; '.join(notes)})" if notes else ""))
    if invalid:
        print(
            f"{len(invalid)} invalid: fix the configuration named above ({', '.join(invalid)}), then check again"
        )
        return 2
    if not stale:
        print("all results are fresh")
        return 0
    for profile in sorted(set(stale.values())):
        names = ",".join(n for n, p in stale.items() if p == profile)
        print(
            f"{len([p for p in stale.values() if p == profile])} to rerun: "
            f"python build_results.py --profile {profile} --only {names}"
        )
    return 1


# ----- verify -------------------------------------------------------------------------------------


def lookup(metrics: dict, dotted: str):
    node = metrics
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None


CUDA_NONDETERMINISM = "CUDA: some kernels (bilinear interpolation's backward) are nondeterministic"


def setup_differences(committed: dict, rerun: dict) -> list[str]:
    """What keeps the two runs from giving the same bytes: their setups' differences, or on the same
    GPU its nondeterministic kernels (empty: the same CPU machine, so tolerance 0)."""

    def facts(p: dict) -> dict:
        m = p.get("machine") or {}
        return {
            "device_type": p.get("device_type"),
            "precision": p.get("precision"),
            "cpu": m.get("cpu"),
            "cpu flags": m.get("cpu_flags_sha256"),
            "threads": p.get("threads"),
            **{f"version of {k}": v for k, v in (p.get("versions") or {}).items()},
        }

    a, b = facts(committed), facts(rerun)
    differences = [f"{k}: {a.get(k)} -> {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if not differences and a["device_type"] == "cuda":  # see execute.CUDA_DETERMINISM
        differences = [CUDA_NONDETERMINISM]
    return differences


def compare_metrics(spec: ExperimentSpec, committed: dict, rerun: dict, tolerance: float) -> list[dict]:
    rows = []
    for path in spec.headline:
        a, b = lookup(committed, path), lookup(rerun, path)
        difference = abs(a - b) if a is not None and b is not None else None
        rows.append(
            {
                "metric": path,
                "committed": a,
                "rerun": b,
                "difference": difference,
                "tolerance": tolerance,
                "ok": difference is not None and difference <= tolerance,
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    show = lambda v: "missing" if v is None else f"{v:.6g}"  # noqa: E731
    width = max([len("metric")] + [len(r["metric"]) for r in rows])
    print(f"{'metric':<{width}}  {'committed':>12}  {'rerun':>12}  {'|difference|':>12}  {'tolerance':>9}")
    for r in rows:
        print(
            f"{r['metric']:<{width}}  {show(r['committed']):>12}  {show(r['rerun']):>12}  "
            f"{show(r['difference']):>12}  {r['tolerance']:>9g}  {'ok' if r['ok'] else 'FAIL'}"
        )


def _write_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as error:
        raise ReportError(f"cannot write {path} ({error.strerror or error})") from None


def rerun(spec: ExperimentSpec, profile: str, options, git: str) -> tuple[dict, dict]:
    """(metrics, provenance) of a fresh run of spec into a temporary folder."""
    from hw1.runner.execute import plan_one, run_plans

    with tempfile.TemporaryDirectory(prefix=f"hw1-verify-{spec.name}-") as tmp:
        opts = replace(options, profile=profile, results=Path(tmp), force=True, only=[spec.name])
        outcomes, interrupted = run_plans([plan_one(spec, opts, options.device)], opts, git)
        if interrupted:
            raise KeyboardInterrupt
        if outcomes[0].status != "ran":
            raise ReportError(f"--verify {spec.name}: the rerun {outcomes[0].status}: {outcomes[0].message}")
        folder = Path(tmp) / spec.name
        return tuple(
            json.loads((folder / f).read_text(encoding="utf-8")) for f in ("metrics.json", "provenance.json")
        )


def writable(folder: Path, option: str) -> None:
    """A ReportError naming the option when a file cannot be written into `folder` (checked before work)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".probe-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise ReportError(
            f"{option}: cannot write into {folder} ({error.strerror or error}); "
            "--verify records its result there as verify.json"
        ) from None


def verify_one(spec: ExperimentSpec, options, git: str, committed: dict, problem: str) -> bool:
    folder = options.results / spec.name
    profile = committed.get("profile", "cpu")
    verdict = compare(Current.of(spec, profile, options.data_root, options.cache_dir), committed, problem)
    if verdict.stale:
        print(
            f"note: {spec.name}: the stored results are stale ({'; '.join(verdict.stale)}); "
            "the rerun uses this checkout",
            file=sys.stderr,
        )
    metrics, provenance = rerun(spec, profile, options, git)
    differences = setup_differences(committed, provenance)
    tolerance = spec.tolerance_across if differences else 0.0
    rows = compare_metrics(
        spec, json.loads((folder / "metrics.json").read_text(encoding="utf-8")), metrics, tolerance
    )
    passed = all(r["ok"] for r in rows)
    print(
        f"\n--verify {spec.name} ({profile} profile; committed {committed.get('git_commit')}, rerun {git}; "
        + (
            "same setup: tolerance 0)"
            if not differences
            else f"other setup ({'; '.join(differences)}): tolerance {tolerance:g})"
        )
    )
    print_table(rows)
    known = [r["difference"] for r in rows if r["difference"] is not None]
    _write_atomic(
        folder / "verify.json",
        {
            "experiment": spec.name,
            "passed": passed,
            "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "profile": profile,
            "committed_git_commit": committed.get("git_commit"),
            "git_commit": git,
            "device_name": provenance.get("device_name"),
            "machine": provenance.get("machine"),
            "device_type": provenance.get("device_type"),
            "precision": provenance.get("precision"),
            "threads": provenance.get("threads"),
            "setup_differences": differences,
            "tolerance": tolerance,
            "max_difference": max(known) if known else None,
            "metrics": rows,
        },
    )
    return passed


def verify(names: list[str], options, git: str) -> int:
    stored = {}
    for name in names:  # every name and folder checked before any rerun
        if not EXPERIMENTS[name].headline:
            raise ReportError(f"--verify {name}: the registry declares no headline metrics for it")
        stored[name] = read_stored(options.results / name)
        if stored[name][0] is None:
            raise ReportError(f"--verify {name}: nothing to compare with ({stored[name][1]})")
        writable(options.results / name, f"--verify {name}")
    failed = []
    for name in names:
        if not verify_one(EXPERIMENTS[name], options, git, *stored[name]):
            failed.append(name)
    print(
        "\n"
        + (
            f"--verify: outside the tolerance: {', '.join(failed)}"
            if failed
            else "--verify: every headline metric within its tolerance"
        )
    )
    return 1 if failed else 0

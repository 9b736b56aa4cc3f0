"""build_results.py's command line: options checked before any work, the summary, what next."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from hw1.config import MAX_STEPS_ENV, max_steps_from_env
from hw1.data import sources
from hw1.errors import ConfigError, ReportError
from hw1.experiments import EXPERIMENTS
from hw1.runner import audit, folders
from hw1.runner.execute import Options, Outcome, plan_one, resolve_device, run_plans
from hw1.runner.freshness import PROJECT_ROOT, git_describe

PROFILES = ("smoke", "cpu", "gpu")
# The one default for the data (the Makefile and CI do not set another): next to the checkout.
DEFAULT_DATA_ROOT = Path("../shared/data")
DEFAULT_RESULTS = PROJECT_ROOT / "results"
SERVE_HOST = "http://127.0.0.1:8000"  # mkdocs serve's default dev_addr
# A Hugging Face hub id (NAME or ORG/NAME); anything else given to --pretrained must be a folder.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
EXIT_CODES = """exit status:
  0    done (or, with --check, every result fresh)
  1    an experiment failed on an error of its code (traceback above); --check: results stale;
       --verify: a metric outside its tolerance
  2    bad input, named in one line: an option, a configuration value (configs/<name>.yaml) or the
       data; --check: a configuration is invalid
  130  interrupted (Ctrl-C, SIGTERM): the previous results are kept"""
# --pretrained NAME -> (experiment, the dotted key of its checkpoint in configs/<experiment>.yaml)
PRETRAINED = {
    "classification.beit": ("classification", "beit.pretrained"),
    "segmentation.segformer": ("segmentation", "models.segformer.pretrained"),
    "segmentation.beit": ("segmentation", "models.beit.pretrained"),
}


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build_results.py",
        description="Run the report's experiments into results/ (only what changed, unless --force).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        choices=PROFILES,
        help="smoke: seconds, synthetic inputs (tests; results go to .cache/results-smoke/); "
        "cpu: the committed run on 2 cores; gpu: the full run on one GPU "
        "(default: gpu when CUDA is available, else cpu)",
    )
    p.add_argument("--only", default="", help="comma-separated experiments: " + ",".join(EXPERIMENTS))
    p.add_argument(
        "--force",
        action="store_true",
        help="rerun even when the stored results match (and let smoke results replace others)",
    )
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help=f"folder with the datasets (default: $HW1_DATA_ROOT, else {DEFAULT_DATA_ROOT}, "
        "relative to the project; one given must exist); without data, unchanged committed "
        "results are kept",
    )
    p.add_argument(
        "--accept-data-sha256",
        action="append",
        default=[],
        metavar="SHA256",
        help="read an archive with a known name (cifar10-jpeg.tar.gz, camvid-segnet.tar.gz) although "
        "its sha256 is SHA256, not the published one (refused otherwise; repeatable): its results "
        "then differ from the committed ones",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="results folder (default: results/; .cache/results-smoke/ for --profile smoke, "
        ".cache/results-overrides/ with --max-steps, --set or --pretrained, so that they "
        "never replace the committed results)",
    )
    p.add_argument(
        "--pretrained",
        action="append",
        default=[],
        metavar="NAME=ID_OR_PATH",
        help="the checkpoint of model NAME (" + ", ".join(PRETRAINED) + "): a Hugging Face hub id, "
        "a folder saved with save_pretrained, or none to train it from scratch with the "
        "profile's from-scratch recipe (repeatable; overrides configs/<experiment>.yaml)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="EXPERIMENT.KEY=VALUE",
        dest="settings",
        help="override one configuration value of the profile, e.g. --set bert.batch_size=32 "
        "(VALUE is YAML; dotted keys reach into mappings; repeatable; joins the cache key)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        metavar="N",
        help=f"cap every run at N optimizer steps (${MAX_STEPS_ENV} does the same): only step "
        "counts shrink (warm-up, phases and evaluations scaled with them), the code path is the same",
    )
    p.add_argument(
        "--verbose", action="store_true", help="keep the libraries' load reports and progress bars"
    )
    p.add_argument(
        "--no-next",
        action="store_true",
        help="leave out the closing lines on what to do next (make report prints them at its end)",
    )
    p.add_argument(
        "--next",
        action="store_true",
        help="only print what to do next with the results, the site and the PDFs, and exit",
    )
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument(
        "--check",
        action="store_true",
        help="only check that the stored results are fresh (no torch unless a configuration changed; "
        "exit 1 naming the stale ones, 2 naming an invalid configuration)",
    )
    p.add_argument(
        "--verify",
        metavar="NAME[,NAME]",
        help="rerun these experiments into a temporary folder and compare their headline metrics "
        "with the stored ones (writes results/<name>/verify.json)",
    )
    return p


def names_option(option: str, text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ConfigError(
            f"{option}: unknown experiment {', '.join(unknown)} (known: {', '.join(EXPERIMENTS)})"
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{option}: {', '.join(twice)} given more than once")
    return names


def folder_option(option: str, path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is a file, not a folder")
    return path


def pretrained_name(name: str) -> str:
    """'segformer' -> 'segmentation.segformer' when one model has that name; ConfigError otherwise."""
    if name in PRETRAINED:
        return name
    matches = [full for full in PRETRAINED if full.split(".", 1)[1] == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"--pretrained {name}: ambiguous, write {' or '.join(matches)}")
    raise ConfigError(f"--pretrained {name}: unknown model (known: {', '.join(PRETRAINED)})")


def overrides_of(args) -> dict[str, list[tuple[str, object]]]:
    """{experiment: [(dotted key, value)]} from --set and --pretrained, each checked here."""
    import yaml

    out: dict[str, list] = {}
    for text in args.settings:
        target, eq, value = text.partition("=")
        experiment, dot, key = target.strip().partition(".")
        if not eq or not dot or not key:
            raise ConfigError(f"--set {text}: expected EXPERIMENT.KEY=VALUE, e.g. bert.batch_size=32")
        names_option("--set", experiment)
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {text}: the value is not valid YAML") from None
        out.setdefault(experiment, []).append((key, parsed))
    for text in args.pretrained:
        name, eq, value = text.partition("=")
        if not eq or not value.strip():
            raise ConfigError(
                f"--pretrained {text}: expected NAME=ID_OR_PATH or NAME=none (NAME: {', '.join(PRETRAINED)})"
            )
        experiment, key = PRETRAINED[pretrained_name(name.strip())]
        out.setdefault(experiment, []).append((key, checkpoint_of(f"--pretrained {text}", value.strip())))
    return out


def checkpoint_of(option: str, value: str) -> str | None:
    """None (from scratch), a folder saved with save_pretrained (resolved), or a hub id; else ConfigError."""
    folder = Path(value).expanduser()
    if value.lower() == "none":
        return None
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"{option}: {folder} has no config.json (expected a folder saved with save_pretrained)"
            )
        return str(folder.resolve())
    if not HUB_ID.fullmatch(value):
        raise ConfigError(f"{option}: no such folder {folder}, and not a Hugging Face hub id (ORG/NAME)")
    return value


def make_options(args) -> Options:
    """Every option checked before any work; a ConfigError names the option."""
    only = names_option("--only", args.only)
    device = resolve_device(args.device)
    profile = args.profile or ("gpu" if device.startswith("cuda") else "cpu")
    if profile == "gpu" and not device.startswith("cuda") and args.device != "cpu":
        raise ConfigError(
            "--profile gpu: CUDA is not available on this machine, and the gpu configuration "
            "would take many hours on the CPU; use --profile cpu, or add --device cpu to run "
            "the gpu configuration on the CPU anyway"
        )
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError(f"--max-steps {args.max_steps}: expected a positive integer")
    max_steps = args.max_steps if args.max_steps is not None else max_steps_from_env()
    overrides = overrides_of(args)
    data_root, results, cache_dir = folders_of(args, profile, overridden=bool(overrides or max_steps))
    return Options(
        profile=profile,
        only=only,
        force=args.force,
        data_root=data_root,
        device=device,
        results=results,
        cache_dir=cache_dir,
        verbose=args.verbose,
        overrides=overrides,
        max_steps=max_steps,
    )


def folders_of(args, profile: str | None, overridden: bool = False) -> tuple[Path, Path, Path]:
    """(data root, results, cache): the options, else the environment, else the defaults. Results made
    with a smoke profile or with overrides go to the cache unless --results says otherwise."""
    cache_dir = Path(os.environ.get("HW1_CACHE_DIR") or PROJECT_ROOT / ".cache")
    default = "results-smoke" if profile == "smoke" else "results-overrides" if overridden else None
    results = args.results or (cache_dir / default if default else DEFAULT_RESULTS)
    return data_root_of(args), folder_option("--results", results), cache_dir


def data_root_of(args) -> Path:
    """--data-root, else $HW1_DATA_ROOT (either must be a folder), else the default (a note when absent)."""
    for option, given in (
        ("--data-root", args.data_root),
        ("$HW1_DATA_ROOT", os.environ.get("HW1_DATA_ROOT")),
    ):
        if given:
            folder = folder_option(option, Path(given))
            if not folder.is_dir():
                raise ConfigError(f"{option} {folder}: no such folder (the folder with the datasets)")
            return folder
    folder = (PROJECT_ROOT / DEFAULT_DATA_ROOT).resolve()
    if not folder.is_dir():
        print(
            f"note: no data folder at {folder} (the default; --data-root gives another): experiments that "
            "need data cannot be rerun here",
            file=sys.stderr,
        )
    return folder


def print_summary(outcomes: list[Outcome]) -> None:
    width = max([len("experiment")] + [len(o.name) for o in outcomes])
    print(f"\n{'experiment':<{width}}  {'status':<11}  {'time':>8}")
    print(f"{'-' * width}  {'-' * 11}  {'-' * 8}")
    for o in outcomes:
        message = f"  ({o.message})" if o.message and o.status in ("cached", "ran") else f"  {o.message}"
        print(f"{o.name:<{width}}  {o.status:<11}  {o.seconds:>7.1f}s" + (message if o.message else ""))
    sys.stdout.flush()


def site_address() -> str:
    """The address `mkdocs serve` prints: its host and the path of site_url ($HW1_SITE_URL, else mkdocs.yml)."""
    found = re.search(r'HW1_SITE_URL,\s*"([^"]*)"', (PROJECT_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    url = os.environ.get("HW1_SITE_URL") or (found.group(1) if found else "/")
    return SERVE_HOST + ("/" + urlsplit(url).path.lstrip("/")).rstrip("/") + "/"


def failed_lines(results: Path, outcomes: list[Outcome]) -> list[str]:
    failed = [o.name for o in outcomes if o.status == "failed"]
    kept = [n for n in failed if (results / n / "metrics.json").is_file()]
    none = [n for n in failed if n not in kept]
    lines = []
    if kept:
        lines.append(
            f"Failed (errors above): {', '.join(kept)}; the previous results in {results} are kept, "
            "and the site still shows them."
        )
    if none:
        lines.append(
            f"Failed (errors above): {', '.join(none)}; with no results in {results}, the site marks "
            "their sections as not computed."
        )
    return lines


def next_steps(built: bool = False) -> list[str]:
    """What to do next with results/: `make site`, `make pdf` (after `make report`, `built`: only those
    whose output is not there), then `make serve`."""
    site = PROJECT_ROOT / "site"
    lines = []
    if not built or not (site / "index.html").is_file():
        lines.append("`make site` builds the site into site/ (`make report` runs results, site and PDFs);")
    if not built or not all((site / "pdf" / f"report-{lang}.pdf").is_file() for lang in ("fa", "en")):
        lines.append("`make pdf` prints site/pdf/report-fa.pdf and site/pdf/report-en.pdf;")
    lines.append(f"`make serve` serves the site at {site_address()}")
    return ["Next: " + lines[0]] + ["      " + line for line in lines[1:]]


def what_next(options: Options, outcomes: list[Outcome]) -> list[str]:
    lines = failed_lines(options.results, outcomes)
    if options.results.resolve() == DEFAULT_RESULTS.resolve():
        return lines + next_steps()
    return lines + [
        f"These results are in {options.results}; the site reads results/. To look at them:",
        f"      HW1_RESULTS={options.results} .venv/bin/mkdocs serve   (then {site_address()})",
    ]


def build(options: Options, git: str, no_next: bool = False) -> int:
    selected = [EXPERIMENTS[n] for n in options.only] if options.only else list(EXPERIMENTS.values())
    print(
        f"profile {options.profile}, device {options.device}, data root {options.data_root}, "
        f"results {options.results}",
        file=sys.stderr,
    )
    folders.tidy(options.results)
    plans = [plan_one(spec, options, options.device) for spec in selected]
    for plan in plans:
        for warning in plan.warnings:
            print(f"warning: {plan.spec.name}: {warning}", file=sys.stderr)
        other = plan.stored_profile
        if plan.must_run(options.force) and other not in (None, options.profile):
            folder = options.results / plan.spec.name
            if options.profile == "smoke" and not options.force:
                raise ConfigError(
                    f"--profile smoke would replace the {other} results in {folder}: "
                    "leave out --results (smoke results go to .cache/results-smoke/), "
                    "or add --force to replace them"
                )
            print(
                f"note: {plan.spec.name}: the {other} results in {folder} will be replaced by "
                f"{options.profile} ones",
                file=sys.stderr,
            )
    outcomes, interrupted = run_plans(plans, options, git)
    print_summary(outcomes)
    for line in failed_lines(options.results, outcomes) if no_next else what_next(options, outcomes):
        print(line)
    if interrupted:
        return 130
    failed = [o for o in outcomes if o.status == "failed"]
    return 1 if any(not o.bad_input for o in failed) else 2 if failed else 0


def main(argv: list[str] | None = None) -> int:
    # Explicitly: a run started with SIGINT ignored (`cmd &` from a script) must still stop on Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    args = parser().parse_args(argv)
    if args.list:
        for spec in EXPERIMENTS.values():
            print(f"{spec.name:<18} {spec.title}")
        return 0
    if args.next:
        print("\n".join(next_steps(built=True)))
        return 0
    git = git_describe()  # once, before any experiment runs: the code the results come from
    try:
        max_steps_from_env()  # a bad $HW1_MAX_STEPS: one line, before any experiment reads it
        sources.accept(args.accept_data_sha256)
        if args.check:
            return audit.check(*folders_of(args, None), git)
        options = make_options(args)
        if args.verify is not None:
            return audit.verify(names_option("--verify", args.verify) or list(EXPERIMENTS), options, git)
        return build(options, git, args.no_next)
    except ReportError as error:
        print(f"build_results.py: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

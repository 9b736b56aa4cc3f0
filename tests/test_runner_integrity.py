"""Issue #23: nothing silently wrong. One test (or more) per item, each fast; numbered as in the issue."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import BIN, ROOT, fake_results, run_build, statuses
from hw1 import config as hw1_config
from hw1.errors import ConfigError
from hw1.runner import audit, cli
from hw1.runner.execute import Outcome
from hw1.runner.freshness import output_hashes
from hw1.site import hook


def options(*argv: str):
    return cli.make_options(cli.parser().parse_args(list(argv)))


def main(monkeypatch, *argv: str) -> int:
    """cli.main in this process (its signal handlers left to pytest)."""
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)
    return cli.main(list(argv))


# 2. Overrides never replace the committed results; the site marks them ----------------------------


@pytest.mark.parametrize(
    "argv",
    [["--max-steps", "5"], ["--set", "bert.batch_size=32"], ["--pretrained", "classification.beit=none"], []],
)
def test_2_results_made_with_overrides_go_to_the_cache(tmp_path, monkeypatch, argv):
    monkeypatch.setenv("HW1_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("HW1_MAX_STEPS", raising=False)
    if not argv:
        monkeypatch.setenv("HW1_MAX_STEPS", "5")
    assert options("--profile", "cpu", "--only", "bert", *argv).results == tmp_path / "results-overrides"
    assert options("--profile", "cpu", "--results", str(tmp_path / "r"), *argv).results == tmp_path / "r"
    monkeypatch.delenv("HW1_MAX_STEPS", raising=False)
    assert options("--profile", "cpu").results == cli.DEFAULT_RESULTS


def test_2_overrides_are_recorded_and_the_site_marks_them(tmp_path):
    results = tmp_path / "results"
    proc = run_build(
        "--profile",
        "smoke",
        "--only",
        "attention_scaling",
        "--set",
        "attention_scaling.num_keys=8",
        "--results",
        str(results),
        env={"HW1_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr
    provenance = json.loads((results / "attention_scaling" / "provenance.json").read_text())
    assert provenance["overrides"] == {"values": {"num_keys": 8}}
    for lang, words in (
        ("en", "This site shows results made with command-line overrides"),
        ("fa", "این وبگاه نتایجی را نشان می‌دهد که با تغییر پیکربندی"),
    ):
        renderer = hook.PageRenderer(hook.Results(results), {}, {}, lang, "", hook.make_env())
        note = renderer.overrides_note()
        assert note.startswith("!!! warning") and words in note and "attention_scaling (num_keys)" in note
        assert "num_keys=8" in renderer.provenance_table(provenance)
    clean = tmp_path / "clean"
    fake_results(clean, "attention_scaling", "smoke", tmp_path, tmp_path / "cache")
    assert hook.PageRenderer(hook.Results(clean), {}, {}, "en", "", hook.make_env()).overrides_note() == ""


# 3. Every output listed with its sha256, checked by --check and a cached run ----------------------


def test_3_a_missing_or_changed_output_is_named(tmp_path):
    results, cache = tmp_path / "results", tmp_path / "cache"
    run = lambda *a: run_build(*a, "--results", str(results), env={"HW1_CACHE_DIR": str(cache)})  # noqa: E731
    assert run("--profile", "smoke", "--only", "attention_scaling").returncode == 0
    folder = results / "attention_scaling"
    listed = json.loads((folder / "provenance.json").read_text())["outputs"]
    assert listed == output_hashes(folder) and "metrics.json" in listed and "provenance.json" not in listed
    figure = next(folder / name for name in listed if name.startswith("figures/"))
    figure.unlink()
    (folder / "tables" / "softmax_by_dim.json").write_text("[]")
    proc = run("--check")
    line = next(l for l in proc.stdout.splitlines() if l.startswith("attention_scaling"))
    assert proc.returncode == 1 and " STALE " in line, proc.stdout
    assert (
        f"outputs differ from provenance.json: {figure} is missing, "
        f"{folder / 'tables' / 'softmax_by_dim.json'} changed"
    ) in line
    proc = run("--profile", "smoke", "--only", "attention_scaling")
    assert statuses(proc.stdout) == {"attention_scaling": "ran"} and f"{figure} is missing" in proc.stderr
    assert figure.is_file()


def test_3_the_committed_results_list_their_outputs():
    for provenance in sorted((ROOT / "results").glob("*/provenance.json")):
        assert json.loads(provenance.read_text())["outputs"] == output_hashes(provenance.parent), provenance


# 4. --check says "invalid", with the line a run prints --------------------------------------------


@pytest.mark.parametrize(
    "line, message",
    [
        ("    num_keyz: 3", "profiles.smoke.num_keyz: unknown option (known here: "),
        ("    num_keys: many", "profiles.smoke.num_keys: expected an integer, got 'many'"),
    ],
)
def test_4_check_calls_an_invalid_config_invalid(tmp_path, monkeypatch, capsys, line, message):
    results, cache = tmp_path / "results", tmp_path / "cache"
    fake_results(results, "attention_scaling", "smoke", tmp_path, cache)
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    path = configs / "attention_scaling.yaml"
    path.write_text(path.read_text().replace("  smoke:\n", f"  smoke:\n{line}\n"))
    read = hw1_config.read
    monkeypatch.setattr(
        hw1_config, "read", lambda name, profile, _=None, **kw: read(name, profile, configs, **kw)
    )
    monkeypatch.setenv("HW1_CACHE_DIR", str(cache))
    assert main(monkeypatch, "--check", "--results", str(results), "--data-root", str(tmp_path)) == 2
    out = capsys.readouterr().out
    [checked] = [l for l in out.splitlines() if l.startswith("attention_scaling")]
    assert checked.startswith(f"attention_scaling  INVALID  {path}: {message}"), out
    assert "STALE" not in out and "to rerun" not in out and "1 invalid: fix the configuration" in out
    assert (
        main(monkeypatch, "--profile", "smoke", "--only", "attention_scaling", "--results", str(results)) == 2
    )
    assert f"error: attention_scaling: {checked.split('INVALID  ')[1]}\n" in capsys.readouterr().err


# 5. A --data-root that does not exist -------------------------------------------------------------


def test_5_a_data_root_given_that_does_not_exist_is_an_error(tmp_path):
    for args, env in (
        (["--data-root", str(tmp_path / "nope")], {}),
        ([], {"HW1_DATA_ROOT": str(tmp_path / "nope")}),
    ):
        proc = run_build(
            "--profile",
            "smoke",
            "--only",
            "attention_scaling",
            "--results",
            str(tmp_path / "r"),
            *args,
            env=env,
        )
        option = "--data-root" if args else "$HW1_DATA_ROOT"
        assert proc.returncode == 2 and proc.stderr == (
            f"build_results.py: error: {option} {tmp_path / 'nope'}: "
            "no such folder (the folder with the datasets)\n"
        )
        assert not (tmp_path / "r").exists()


def test_5_the_default_data_root_absent_is_a_one_line_note(monkeypatch, capsys):
    monkeypatch.setattr(cli, "DEFAULT_DATA_ROOT", Path("../no-such-data-folder"))
    monkeypatch.delenv("HW1_DATA_ROOT", raising=False)
    assert cli.data_root_of(cli.parser().parse_args([])) == (ROOT / "../no-such-data-folder").resolve()
    [note] = capsys.readouterr().err.splitlines()
    assert note.startswith(
        f"note: no data folder at {(ROOT / '../no-such-data-folder').resolve()} (the default; "
    )


# 6. Options and paths checked before any work ----------------------------------------------------


def test_6_a_pretrained_folder_is_checked_with_the_options(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"^--pretrained classification.beit=/nonexistent: no such folder "
        r"/nonexistent, and not a Hugging Face hub id \(ORG/NAME\)$",
    ):
        options("--profile", "cpu", "--pretrained", "classification.beit=/nonexistent")
    with pytest.raises(
        ConfigError, match=f"^--pretrained segformer={tmp_path}: {tmp_path} has no config.json"
    ):
        options("--profile", "cpu", "--pretrained", f"segformer={tmp_path}")
    (tmp_path / "config.json").write_text("{}")
    assert options(
        "--profile",
        "cpu",
        "--pretrained",
        f"segformer={tmp_path}",
        "--pretrained",
        "classification.beit=microsoft/beit-base-patch16-224",
    ).overrides == {
        "segmentation": [("models.segformer.pretrained", str(tmp_path))],
        "classification": [("beit.pretrained", "microsoft/beit-base-patch16-224")],
    }


def test_6_verify_into_a_read_only_folder_is_refused_before_the_rerun(tmp_path, monkeypatch, capsys):
    results, cache = tmp_path / "results", tmp_path / "cache"
    fake_results(results, "attention_scaling", "smoke", tmp_path, cache)
    folder = results / "attention_scaling"
    monkeypatch.setattr(audit, "rerun", lambda *a: pytest.fail("reran before checking the folder"))
    mkstemp = tempfile.mkstemp

    def read_only(*args, dir=None, **kw):  # what the kernel says to anyone but root, who is not refused
        if Path(dir) == folder:
            raise PermissionError(13, "Permission denied")
        return mkstemp(*args, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setenv("HW1_CACHE_DIR", str(cache))
    folder.chmod(0o555)
    try:
        code = main(
            monkeypatch, "--profile", "smoke", "--verify", "attention_scaling", "--results", str(results)
        )
    finally:
        folder.chmod(0o755)
    assert code == 2
    assert capsys.readouterr().err == (
        f"build_results.py: error: --verify attention_scaling: cannot write into "
        f"{folder} (Permission denied); --verify records its result there as "
        "verify.json\n"
    )


# 7. Messages that say what is true; one convention for exit codes --------------------------------


def test_7_a_failure_with_results_kept_says_the_site_still_shows_them(tmp_path):
    fake_results(tmp_path, "attention_scaling", "smoke", tmp_path, tmp_path / "cache")
    lines = cli.failed_lines(
        tmp_path,
        [
            Outcome("attention_scaling", "failed", 0.0, "x"),
            Outcome("bert", "failed", 0.0, "y"),
            Outcome("segmentation", "ran", 1.0),
        ],
    )
    assert lines == [
        f"Failed (errors above): attention_scaling; the previous results in {tmp_path} are kept, "
        "and the site still shows them.",
        f"Failed (errors above): bert; with no results in {tmp_path}, the site marks their "
        "sections as not computed.",
    ]


def test_7_bad_input_exits_2_as_documented(tmp_path):
    proc = run_build(
        "--profile",
        "smoke",
        "--only",
        "attention_scaling",
        "--set",
        "attention_scaling.num_keyz=3",
        "--results",
        str(tmp_path / "r"),
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        "error: attention_scaling: configs/attention_scaling.yaml: num_keyz (given on the command line): "
        "unknown option"
    ) in proc.stderr
    usage = run_build("--help").stdout
    assert "exit status:" in usage and "2    bad input, named in one line" in usage


def test_7_a_bad_max_steps_variable_is_one_line(tmp_path):
    for args in (["--profile", "smoke", "--results", str(tmp_path / "r")], ["--check"]):
        proc = run_build(*args, env={"HW1_MAX_STEPS": "abc"})
        assert proc.returncode == 2 and proc.stderr == (
            "build_results.py: error: $HW1_MAX_STEPS='abc': expected "
            "a positive integer (the largest step count)\n"
        ), proc.stderr
        assert not (tmp_path / "r").exists()


def test_7_make_report_ends_with_what_next_and_the_address_mkdocs_serve_prints(monkeypatch):
    if not shutil.which("make"):
        pytest.skip("no make here")
    plan = subprocess.run(
        ["make", "-n", "report", f"VENV={BIN.parent}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    commands = [line for line in plan.stdout.splitlines() if line.strip() and not line.startswith("make")]
    assert plan.returncode == 0, plan.stderr
    assert commands[-1].endswith("build_results.py --next")
    assert any(c.endswith("build_results.py --no-next") for c in commands)
    monkeypatch.delenv("HW1_SITE_URL", raising=False)
    assert cli.site_address() == "http://127.0.0.1:8000/hw1-report/"  # site_url of mkdocs.yml
    monkeypatch.setenv("HW1_SITE_URL", "https://someone.github.io/report")
    assert cli.site_address() == "http://127.0.0.1:8000/report/"
    monkeypatch.setenv("HW1_SITE_URL", "https://report.example.org/")
    assert cli.site_address() == "http://127.0.0.1:8000/"
    assert cli.next_steps()[-1] == "      `make serve` serves the site at http://127.0.0.1:8000/"


# 8. A site build keeps the printed PDFs ----------------------------------------------------------


def test_8_a_site_build_keeps_the_printed_pdfs(tmp_path):
    """A small site with the report's hook and i18n plugin (which copies every file for /en/)."""
    (tmp_path / "docs").mkdir()
    for lang in ("fa", "en"):
        (tmp_path / "docs" / f"index.{lang}.md").write_text(f"# Home\n\n[PDF](pdf/report-{lang}.pdf)\n")
    (tmp_path / "mkdocs.yml").write_text(
        f"site_name: t\nhooks: [{ROOT / 'src/hw1/site/hook.py'}]\nplugins:\n  - i18n:\n"
        "      docs_structure: suffix\n      languages:\n        - {locale: fa, default: true, name: fa}\n"
        "        - {locale: en, name: en}\n"
    )
    printed = tmp_path / "site" / "pdf" / "report-fa.pdf"
    printed.parent.mkdir(parents=True)
    printed.write_bytes(b"%PDF-1.4 printed by make pdf")
    proc = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert printed.read_bytes() == b"%PDF-1.4 printed by make pdf"
    note = (tmp_path / "site" / "pdf" / "report-en.pdf").read_bytes()  # not printed yet: a note says how
    assert note.startswith(b"%PDF-") and b"make pdf" in note


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
    assert stdlib_docs._import("hw1_probe_exit") is None  # a script module: skipped
    with pytest.raises(KeyboardInterrupt):
        stdlib_docs._import("hw1_probe_interrupt")
    for name in ("hw1_probe_interrupt", "hw1_probe_exit"):
        sys.modules.pop(name, None)

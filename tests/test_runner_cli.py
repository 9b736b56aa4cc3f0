"""Issue #12: the newcomer's path and bad input. One test (or more) per item, each fast."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PYTHON, ROOT, fake_results, run_build, statuses
from hw1.data import sources
from hw1.runner import cli
from hw1.runner.execute import Options
from hw1.site import hook


def _cpu_only():
    if Path("/proc/driver/nvidia/version").exists():
        pytest.skip("this machine has an NVIDIA driver")


# 1. No data, committed results: kept, and one default for the data root -------------------------


def test_1_no_data_keeps_unchanged_committed_results(tmp_path):
    results, missing, cache = tmp_path / "results", tmp_path / "no-data", tmp_path / "cache"
    missing.mkdir()
    fake_results(results, "classification", "cpu", missing, cache)
    proc = run_build(
        "--profile",
        "cpu",
        "--only",
        "classification",
        "--results",
        str(results),
        "--data-root",
        str(missing),
        env={"HW1_CACHE_DIR": str(cache)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("classification"))
    assert line.split()[1] == "cached" and line.endswith("(inputs not present here; kept from abc123def456)")


def test_1_one_default_data_root():
    assert "HW1_DATA_ROOT" not in (ROOT / "Makefile").read_text().replace("$HW1_DATA_ROOT when set", "")
    assert "HW1_DATA_ROOT=" not in (ROOT / ".ci/run").read_text()
    assert f"else {cli.DEFAULT_DATA_ROOT}" in run_build("--help").stdout.replace("\n", " ").replace("  ", " ")


# 2. Smoke results never replace real ones; a rerun says why ---------------------------------------


def test_2_smoke_results_go_to_the_cache_by_default(tmp_path):
    proc = run_build(
        "--profile", "smoke", "--only", "attention_scaling", env={"HW1_CACHE_DIR": str(tmp_path)}
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "results-smoke" / "attention_scaling" / "metrics.json").is_file()
    assert f"results {tmp_path / 'results-smoke'}" in proc.stderr


def test_2_smoke_refuses_to_replace_other_results(tmp_path):
    results = tmp_path / "results"
    fake_results(results, "attention_scaling", "cpu", tmp_path, tmp_path / "cache")
    before = (results / "attention_scaling" / "provenance.json").read_text()
    proc = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results))
    assert proc.returncode == 2
    assert (
        f"build_results.py: error: --profile smoke would replace the cpu results in "
        f"{results / 'attention_scaling'}: leave out --results"
    ) in proc.stderr
    assert (results / "attention_scaling" / "provenance.json").read_text() == before


def test_2_a_rerun_says_why(tmp_path):
    results = tmp_path / "results"
    p = fake_results(results, "attention_scaling", "smoke", tmp_path, tmp_path / "cache")
    p["key"]["config"], p["config"]["num_keys"] = "0" * 64, 7
    (results / "attention_scaling" / "provenance.json").write_text(json.dumps(p))
    proc = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results))
    assert proc.returncode == 0, proc.stderr
    assert "[attention_scaling] running: config changed: num_keys" in proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("attention_scaling"))
    assert " ran " in line and line.endswith("(config changed: num_keys)")


# 3. --profile gpu without CUDA ------------------------------------------------------------------


def test_3_gpu_profile_without_cuda_is_refused(tmp_path):
    _cpu_only()
    proc = run_build("--profile", "gpu", "--only", "attention_scaling", "--results", str(tmp_path / "r"))
    assert proc.returncode == 2 and "add --device cpu" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


# 4. Options checked before any work -------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device", "nosuch"], "--device nosuch: expected cpu, cuda, cuda:N or auto"),
        (["--only", "attention_scaling,attention_scaling"], "--only: attention_scaling given more than once"),
        (["--verify", "nosuch"], "--verify: unknown experiment nosuch"),
    ],
)
def test_4_bad_options_are_one_line_and_nothing_runs(tmp_path, args, message):
    proc = run_build("--profile", "smoke", "--results", str(tmp_path / "r"), *args)
    assert proc.returncode == 2 and proc.stderr.startswith(f"build_results.py: error: {message}")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_4_results_pointing_at_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = run_build("--profile", "smoke", "--results", str(tmp_path / "file"))
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"build_results.py: error: --results {tmp_path / 'file'}: is a file, not a folder"
    )


def test_4_cuda_device_without_cuda(tmp_path):
    _cpu_only()
    proc = run_build("--profile", "smoke", "--device", "cuda", "--results", str(tmp_path / "r"))
    assert proc.returncode == 2 and "--device cuda: CUDA is not available" in proc.stderr


# 5. Nothing to write, no lock; unwritable results, one line -------------------------------------


def test_5_fully_cached_run_takes_no_lock(tmp_path):
    results = tmp_path / "results"
    fake_results(results, "attention_scaling", "smoke", tmp_path, tmp_path / "cache")
    results.chmod(0o555)
    try:
        proc = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results))
    finally:
        results.chmod(0o755)
    assert proc.returncode == 0 and statuses(proc.stdout) == {"attention_scaling": "cached"}, proc.stderr
    assert not (results / ".lock").exists()


def test_5_unwritable_results_folder_is_one_line():
    proc = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", "/proc/hw1-results")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "build_results.py: error: cannot write to the results folder /proc/hw1-results" in proc.stderr


# 6. Unreadable results: rerun (build_results), one line (site) ----------------------------------


def test_6_truncated_metrics_are_rerun_and_said(tmp_path):
    results = tmp_path / "results"
    fake_results(results, "attention_scaling", "smoke", tmp_path, tmp_path / "cache")
    (results / "attention_scaling" / "metrics.json").write_text('{"scaled": {')
    proc = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results))
    assert statuses(proc.stdout) == {"attention_scaling": "ran"}, proc.stdout + proc.stderr
    assert f"(results unreadable: {results / 'attention_scaling' / 'metrics.json'}: Expecting" in proc.stdout
    json.loads((results / "attention_scaling" / "metrics.json").read_text())


def _render(results: Path, text: str, page: str = "part1.en.md") -> str:
    renderer = hook.PageRenderer(hook.Results(results), {}, {}, "en", "", hook.make_env())
    return renderer.render(text, page)


def test_6_site_names_an_unreadable_metrics_file(tmp_path):
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "metrics.json").write_text('{"a": ')
    with pytest.raises(hook.PluginError) as error:
        _render(tmp_path, "{{ R.bert.a | num(2) }}")
    message = str(error.value)
    assert message.startswith("part1.en.md: results/bert/metrics.json is unreadable (Expecting value")
    assert "\n" not in message


def test_6_template_syntax_error_names_page_and_line(tmp_path):
    with pytest.raises(hook.PluginError, match=r"^part1.en.md, line 3: template syntax error: "):
        _render(tmp_path, "one\ntwo\n{% if %}\n")


# 7. Known archives --------------------------------------------------------------------------------


def test_7_an_unknown_archive_with_a_known_name_is_read_with_a_warning(tmp_path, monkeypatch):
    (tmp_path / "cifar10-jpeg.tar.gz").write_bytes(b"not the published archive")
    fp = sources.fingerprint(("cifar10",), tmp_path, tmp_path / "cache")
    assert fp["cifar10"]["known"] is False
    with pytest.raises(sources.DataError, match="refused before reading it"):  # issue #23: unless accepted
        sources.warnings_for(fp)
    monkeypatch.setattr(sources, "_accepted", frozenset([fp["cifar10"]["sha256"]]))
    [warning] = sources.warnings_for(fp)
    assert warning.startswith(
        f"{tmp_path / 'cifar10-jpeg.tar.gz'} is not the known cifar10-jpeg.tar.gz (CIFAR-10"
    )
    assert "expected 44733d92ca06af4a..." in warning and "read anyway" in warning
    assert "known" not in sources.key_part(fp)["cifar10"]
    # hashed once: remembered by path, size and mtime
    assert any(
        "cifar10-jpeg.tar.gz|" in k
        for k in json.loads((tmp_path / "cache" / "fingerprints.json").read_text())
    )


def test_7_the_shared_archives_are_the_known_ones(tmp_path):
    root = ROOT.parent / "shared" / "data"
    if not (root / "camvid-segnet.tar.gz").is_file():
        pytest.skip("no shared data here")
    fp = sources.fingerprint(("cifar10", "camvid"), root, ROOT / ".cache")
    assert fp["cifar10"]["known"] and fp["camvid"]["known"]
    assert sources.warnings_for(fp) == []


# 8. Ctrl-C works even when SIGINT was ignored at start -------------------------------------------


def test_8_sigint_interrupts_a_run_started_with_sigint_ignored(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [
            PYTHON,
            str(ROOT / "build_results.py"),
            "--profile",
            "cpu",
            "--only",
            "attention_scaling",
            "--results",
            str(results),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 60
    while not list(results.glob(".tmp-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in out, out + err
    assert not (results / "attention_scaling").exists()


# 9. What next -------------------------------------------------------------------------------------


def test_9_the_end_of_a_run_says_what_next(tmp_path):
    options = Options("cpu", [], False, tmp_path, "cpu", cli.DEFAULT_RESULTS, tmp_path)
    text = "\n".join(cli.what_next(options, []))
    assert "`make site`" in text and f"`make serve` serves the site at {cli.site_address()}" in text
    assert "site/pdf/report-fa.pdf" in text and "site/pdf/report-en.pdf" in text
    results = tmp_path / "results"
    fake_results(results, "attention_scaling", "smoke", tmp_path, tmp_path / "cache")
    proc = run_build("--profile", "smoke", "--only", "attention_scaling", "--results", str(results))
    assert f"HW1_RESULTS={results} .venv/bin/mkdocs serve   (then {cli.site_address()})" in proc.stdout


# 10. Quiet libraries, one decoded copy per archive ------------------------------------------------


@pytest.mark.parametrize("verbose", [False, True])
def test_10_transformers_is_quiet_unless_verbose(verbose):
    code = (
        f"from hw1.runner.execute import quiet_libraries\nquiet_libraries({verbose})\n"
        "from transformers.utils import logging\n"
        "logging.get_logger('transformers.modeling_utils').warning('LOAD REPORT')\n"
        "print('bars', logging.is_progress_bar_enabled())\n"
    )
    proc = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"}
    )
    assert proc.returncode == 0, proc.stderr
    assert ("LOAD REPORT" in proc.stderr) == verbose
    assert f"bars {verbose}" in proc.stdout


def test_10_one_decoded_copy_per_archive(tmp_path):
    import os

    from hw1.data import cifar10
    from test_cifar10 import image_files, make_jpeg_tar

    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    archive = make_jpeg_tar(root / "cifar10-jpeg.tar.gz", image_files())
    cifar10.load(root, cache, allow_download=False)
    os.utime(archive, ns=(1, 1))  # the same name, another version
    cifar10.load(root, cache, allow_download=False)
    assert [p.name for p in (cache / "cifar10").iterdir()] == ["cifar10-jpeg.tar.gz"]

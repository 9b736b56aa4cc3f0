"""The code part of the cache key follows the code's meaning: comments, docstrings and layout (a
`ruff format`) keep results fresh; a changed constant, name or default makes them stale."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import PYTHON, ROOT, fake_results
from hw1.experiments import EXPERIMENTS
from hw1.runner.freshness import Current, code_hashes, compare, file_hash, python_hash, yaml_hash

SOURCE = '''"""A module docstring."""
import math

RATE = 0.1  # the learning rate


class Model:
    """A class docstring."""

    def step(self, x, scale=2):
        """A function docstring."""
        total = math.sqrt(x) * scale + RATE
        return {"total": total, "name": "step"}
'''

SAME = {
    "a comment added, changed and removed": SOURCE.replace(
        "  # the learning rate", "  # the rate (a paper)"
    ).replace("import math\n", "import math  # sqrt\n# a line of comment\n"),
    "docstrings changed": SOURCE.replace("A module docstring.", "What this module does, at length.").replace(
        "A function docstring.", "Another docstring,\n        on two lines."
    ),
    "docstrings removed": SOURCE.replace('"""A module docstring."""\n', "")
    .replace('    """A class docstring."""\n\n', "")
    .replace('        """A function docstring."""\n', ""),
    "line breaks, indentation and quotes": SOURCE.replace(
        'return {"total": total, "name": "step"}',
        "return {\n            'total': total,\n                'name': 'step',\n        }",
    )
    .replace("def step(self, x, scale=2):", "def step(\n        self,\n        x,\n        scale = 2,\n  ):")
    .replace("RATE = 0.1", "RATE = (0.10)"),
}

DIFFERENT = {
    "a changed constant": SOURCE.replace("RATE = 0.1", "RATE = 0.2"),
    "an int for a float": SOURCE.replace("RATE = 0.1", "RATE = 1").replace("scale=2", "scale=2.0"),
    "a renamed variable": SOURCE.replace("total", "result"),
    "a changed default": SOURCE.replace("scale=2", "scale=3"),
    "a changed string": SOURCE.replace('"name": "step"', '"name": "Step"'),
    "an operator": SOURCE.replace("* scale", "/ scale"),
    "a string that is not a docstring": SOURCE.replace("RATE = 0.1", 'RATE = 0.1\n"a note"'),
    "an f-string's format": SOURCE.replace('"name": "step"', '"name": f"{x:>{scale}}"'),
}


def test_f_strings_by_meaning():
    """Python 3.12.1 writes an empty piece at the end of a nested format spec: it is left out."""
    assert python_hash('f"{x:>{w}}"') == python_hash("f'{x:>{w}}' ''")
    assert python_hash('f"{x:>{w}}"') != python_hash('f"{x:<{w}}"') != python_hash('f"{x!r:<{w}}"')


@pytest.mark.parametrize("edit", SAME)
def test_comments_docstrings_and_layout_keep_the_hash(edit):
    edited = SAME[edit]
    assert edited != SOURCE
    ast.parse(edited)
    assert python_hash(edited) == python_hash(SOURCE)


@pytest.mark.parametrize("edit", DIFFERENT)
def test_a_change_of_meaning_changes_the_hash(edit):
    edited = DIFFERENT[edit]
    assert edited != SOURCE
    assert python_hash(edited) != python_hash(SOURCE)


def test_the_hash_names_its_scheme():
    assert re.fullmatch(r"ast1:[0-9a-f]{64}", python_hash(SOURCE))


def test_every_module_hashes_as_its_unparsed_self():
    """ast.unparse writes a module anew (no comments, its own quotes and line breaks): the same meaning."""
    for path in sorted((ROOT / "src" / "hw1").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert python_hash(ast.unparse(ast.parse(source))) == python_hash(source), path


def test_yaml_is_hashed_by_its_content():
    text = "# the words\nstep: {fa: گام, en: step}\nhead: {en: 'head {n}', fa: \"سر {n}\"}\n"
    relaid = "head:\n  fa: سر {n}   # Persian\n  en: head {n}\nstep:\n  en: step\n  fa: گام\n"
    assert yaml_hash(text) == yaml_hash(relaid) and yaml_hash(text).startswith("yaml1:")
    assert yaml_hash(text) != yaml_hash(relaid.replace("en: step", "en: steps"))
    assert yaml_hash("1: one\n") is None  # json would write the key 1 as "1"
    assert yaml_hash("'1': one\n") is not None


def test_file_hash_of_each_kind(tmp_path):
    (tmp_path / "a.yaml").write_text("yes: 1\n")  # a boolean key: the bytes are hashed
    (tmp_path / "b.ttf").write_bytes(b"\x00\x01font")
    (tmp_path / "c.py").write_text("x = 1  # c\n")
    for name in ("a.yaml", "b.ttf"):
        assert file_hash(tmp_path / name) == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert file_hash(tmp_path / "c.py") == python_hash("x = 1\n")


def test_the_key_hashes_code_by_meaning_and_configs_by_values():
    hashes = code_hashes("hw1.experiments.classification")
    for path, digest in hashes.items():
        scheme = {".py": "ast1:", ".yaml": "yaml1:"}.get(os.path.splitext(path)[1], "")
        assert re.fullmatch(scheme + "[0-9a-f]{64}", digest), (path, digest)
    assert "src/hw1/fonts/Vazirmatn-Regular.ttf" in hashes and "text/figures.yaml" in hashes
    assert not any(path.startswith("configs/") for path in hashes)  # compared as the resolved config


def test_results_hashed_by_bytes_are_stale_once_and_say_why(tmp_path):
    spec = EXPERIMENTS["attention_scaling"]
    data, cache = tmp_path / "no-data", tmp_path / "cache"
    provenance = fake_results(tmp_path / "results", spec.name, "smoke", data, cache)
    current = Current.of(spec, "smoke", data, cache)
    old = {p: hashlib.sha256((ROOT / p).read_bytes()).hexdigest() for p in provenance["code_hashes"]}
    provenance["code_hashes"], provenance["key"]["code"] = old, "0" * 64
    rehashed = sum(1 for p in old if not p.endswith(".ttf"))
    assert compare(current, provenance).stale == [
        f"code changed: {rehashed} files hashed by an earlier scheme (now ast1:, yaml1:)"
    ]


# ----- build_results.py --check on a copy of the project ------------------------------------------


@pytest.fixture
def project(tmp_path):
    """A copy of the project's code, configs and texts, with fresh results of every experiment."""
    copy = tmp_path / "project"
    for name in ("src", "configs", "text"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("build_results.py", "mkdocs.yml"):
        shutil.copy(ROOT / name, copy / name)
    (tmp_path / "no-data").mkdir()
    for name in EXPERIMENTS:  # the hashes are of paths relative to the project: the copy's are equal
        fake_results(copy / "results", name, "cpu", tmp_path / "no-data", tmp_path / "cache")
    return copy


def _check_copy(copy) -> subprocess.CompletedProcess:
    data = str(copy.parent / "no-data")
    return subprocess.run(
        [PYTHON, "build_results.py", "--check", "--data-root", data],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "HW1_CACHE_DIR": str(copy.parent / "cache"),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(copy / "src"),
        },
    )  # the copy's hw1, not the installed one


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_check_keeps_results_through_comments_and_formatting(project):
    module = project / "src/hw1/experiments/attention_scaling.py"
    _edit(module, "\nimport ", "\n# a comment added above an import\nimport ")
    _edit(module, "figsize=(10.5, 3.3)", "figsize=(\n        10.5,\n        3.3,\n    )")
    _edit(project / "text/figures.yaml", "\n", "\n# a comment in the words\n")
    _edit(project / "configs/attention_scaling.yaml", "\n", "\n# a comment in the config\n")
    proc = _check_copy(project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all results are fresh" in proc.stdout


def test_check_finds_a_changed_constant(project):
    _edit(project / "src/hw1/experiments/attention_scaling.py", "alpha=0.3", "alpha=0.4")
    proc = _check_copy(project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.split()}
    assert "STALE    code changed: src/hw1/experiments/attention_scaling.py  [" in lines["attention_scaling"]
    assert " fresh " in lines["bert"] and " fresh " in lines["classification"]
    assert "1 to rerun: python build_results.py --profile cpu --only attention_scaling" in proc.stdout
    provenance = json.loads((project / "results/attention_scaling/provenance.json").read_text())
    assert provenance["code_hashes"]["src/hw1/experiments/attention_scaling.py"].startswith("ast1:")

"""What a result was made from, and whether this checkout would still make it.

An experiment's cache key (stored as `key` in results/<name>/provenance.json) is:

    code         hash of the experiment module, every hw1 module it imports (found statically) and
                 the files they declare in READS; per-file hashes are stored as `code_hashes`, so
                 that a rerun can say which file changed
    config       hash of the resolved configuration (stored whole as `config`: changed keys are named)
    inputs       hash of the content fingerprints of its declared inputs (hw1.data.sources)
    profile      smoke | cpu | gpu
    versions     torch, transformers, tokenizers, numpy (importlib.metadata: no torch import)
    device_type  cpu | cuda
    precision    bf16 | fp32, as chosen by hw1.train.precision

A difference in code, config, inputs, profile or versions makes the results stale: they are rerun.
A difference in device_type or precision alone does not. The results are kept and reported as
`cached (made with bf16 on cpu; this machine would use fp32: --force reruns here)`. Otherwise a
newcomer on a machine without native bf16 (AVX2 only) would be forced into an 80-minute rerun
merely to look at results that are correct for the machine that made them; --verify measures
how far a rerun here would land (within the experiment's cross-machine tolerance).

The code is hashed by its meaning, not its bytes, so that a comment, a docstring or a reformatting
(`ruff format`) does not cost a rerun. A Python file's hash is `ast1:` + the sha256 of its syntax
tree without docstrings (the first statement of a module, class or function when it is a string)
and without positions: comments, line breaks, indentation inside brackets and quotes ' or " leave
it unchanged; a changed constant, name, default or statement changes it. The tree is written out
field by field, leaving out empty fields, so that the same source hashes the same on every Python
this project supports (ast.dump itself shows a `type_params=[]` from 3.12 and hides empty fields
from 3.13). A YAML file read by the code (READS) is hashed as `yaml1:` + the sha256 of its parsed
content (sorted JSON), so that its comments and layout do not count either (a file with keys that
are not strings, or values JSON cannot hold, keeps a byte hash: `1:` and `"1":` must differ). Any
other file (a font) is hashed by its bytes (a bare sha256). The tag names the scheme: results
hashed by an earlier scheme are stale once, and say so. The configs/<name>.yaml are not code files:
they are compared by their resolved values (`config` in the key), so their comments never counted.

Versions are compared without their local part (`2.13.0+cpu` and `2.13.0+cu126` are the same
release; the build is the device question above). A package not installed here (the site-only
publishing job has no torch) cannot be compared and is not a reason to rerun.

Inputs not present on this machine (no data root, no dataset) are not a reason either: results
whose code and configuration match are kept, "inputs not present here; kept from <commit>".

provenance.json lists every file the run wrote with its sha256 (`outputs`): a file missing or changed
since then makes the results stale, named (results from before the list have no such check).

This module imports no torch: `build_results.py --check` and a fully cached run take a second.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata as metadata
import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from hw1 import config as hw1_config
from hw1.data import sources
from hw1.errors import ConfigError
from hw1.experiments import ExperimentSpec

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SRC_ROOT = PROJECT_ROOT / "src"
VERSIONED = ("torch", "transformers", "tokenizers", "numpy")
DATASETS = {"cifar10", "camvid"}  # not needed when the profile says `synthetic: true`


# ----- code ---------------------------------------------------------------------------------------


def _module_file(module: str) -> Path | None:
    base = SRC_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=256)
def _parse(source: str) -> ast.Module:
    """ast.parse, once per source (the experiments share most modules): the tree is not to be changed."""
    return ast.parse(source)


def _tree(path: Path) -> ast.Module:
    try:
        return _parse(path.read_text(encoding="utf-8"))
    except SyntaxError as error:
        error.filename = str(path)
        raise


def _imported_hw1_modules(path: Path, module: str) -> set[str]:
    tree = _tree(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "hw1")
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
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


def declared_reads(path: Path) -> list[Path]:
    """The files a module declares it reads, as a top-level `READS = ("text/x.yaml", ...)` (paths
    relative to the project): they shape its results as much as its code does."""
    tree = _tree(path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "READS" for t in node.targets
        ):
            return [PROJECT_ROOT / name for name in ast.literal_eval(node.value)]
    return []


def code_hashes(module: str) -> dict[str, str]:
    """{path relative to the project: file_hash} for code_files(module) and the files they declare."""
    files = code_files(module)
    if not files:
        raise ConfigError(f"experiment module {module} not found under {SRC_ROOT}")
    files = sorted(set(files) | {read for f in files for read in declared_reads(f)})
    missing = [str(p.relative_to(PROJECT_ROOT)) for p in files if not p.is_file()]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: declared in READS but not found")
    return {str(p.relative_to(PROJECT_ROOT)): file_hash(p) for p in files}


PYTHON_SCHEME, YAML_SCHEME = "ast1:", "yaml1:"  # change the tag when the hashing below changes


DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _without_docstring(body: list) -> list:
    """A module's, class's or function's body without its docstring (a leading string statement)."""
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[1:]
    return body


def _dump(node) -> str:
    """ast.dump(node, annotate_fields=True, include_attributes=False) without docstrings and without
    the fields that are None or empty, nor the empty pieces of an f-string: the same on every Python
    >= 3.11 (fields new in a later version are empty for code that does not use them; checked on
    3.11.7, 3.12.1 and 3.13.0). No positions: line numbers are attributes, not fields."""
    if isinstance(node, ast.AST):
        fields = []
        for name, value in ast.iter_fields(node):
            if name == "body" and isinstance(node, DOCUMENTED):
                value = _without_docstring(value)
            elif name == "values" and isinstance(node, ast.JoinedStr):
                # an empty piece of an f-string says nothing (3.12.1 ends the spec of f"{x:>{w}}" with one)
                value = [v for v in value if not (isinstance(v, ast.Constant) and v.value == "")]
            if value is not None and value != []:
                fields.append(f"{name}={_dump(value)}")
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return "[" + ", ".join(_dump(item) for item in node) + "]"
    return repr(node)  # a constant: 0.1 and 0.10 are one value, 1 and 1.0 and True are three


def python_hash(source: str) -> str:
    """`ast1:` + sha256 of the meaning of Python source: comments, docstrings and layout do not count."""
    return PYTHON_SCHEME + hashlib.sha256(_dump(_parse(source)).encode()).hexdigest()


def _json_safe(value) -> bool:
    """Whether json.dumps keeps `value` whole: string keys only (json writes 1 and "1" alike) and
    JSON values only (no dates)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    return value is None or isinstance(value, (str, int, float))


def yaml_hash(text: str) -> str | None:
    """`yaml1:` + sha256 of the parsed content of YAML text, or None when it cannot stand for the file
    (unparsable, or not JSON-safe): then the bytes are hashed."""
    import yaml  # PyYAML, a requirement; imported here, as only a READS file needs it

    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not _json_safe(content):
        return None
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return YAML_SCHEME + hashlib.sha256(canonical.encode()).hexdigest()


def file_hash(path: Path) -> str:
    """The hash of one code file by its meaning: python_hash for .py, yaml_hash for .yaml/.yml,
    sha256 of the bytes for any other file (and for a .py or YAML file that does not parse)."""
    return _content_hash(path.suffix, path.read_bytes())


@functools.lru_cache(maxsize=256)
def _content_hash(suffix: str, data: bytes) -> str:
    try:
        if suffix == ".py":
            return python_hash(data.decode("utf-8"))
        if suffix in (".yaml", ".yml"):
            return yaml_hash(data.decode("utf-8")) or hashlib.sha256(data).hexdigest()
    except (UnicodeDecodeError, SyntaxError, ValueError):
        pass
    return hashlib.sha256(data).hexdigest()


def stable_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# ----- environment --------------------------------------------------------------------------------


def versions() -> dict[str, str | None]:
    found = {}
    for package in VERSIONED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def machine() -> dict:
    """The CPU model and a hash of its feature flags (AVX512, AMX ... change numerics and speed)."""
    model, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    return {
        "cpu": model,
        "cpu_flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16],
        "cpus": os.cpu_count(),
    }


def git_describe() -> str:
    """`git describe --always --dirty --abbrev=12` of the checkout (taken once, before any run)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ----- what this checkout would make --------------------------------------------------------------


@dataclass
class Current:
    spec: ExperimentSpec
    profile: str
    source: hw1_config.Source
    code: dict[str, str]  # code_hashes
    inputs: dict | None  # fingerprints; None when not present here
    inputs_missing: str = ""  # why not (a DataError message)
    versions: dict = field(default_factory=versions)

    @property
    def values(self) -> dict:
        return self.source.values

    @classmethod
    def of(
        cls,
        spec: ExperimentSpec,
        profile: str,
        data_root: Path,
        cache_dir: Path,
        overrides: tuple = (),
        max_steps: int | None = None,
    ) -> Current:
        source = hw1_config.read(spec.name, profile, overrides=overrides, max_steps=max_steps)
        wanted = tuple(i for i in spec.inputs if not (source.values.get("synthetic") and i in DATASETS))
        try:
            inputs, missing = sources.fingerprint(wanted, data_root, cache_dir), ""
        except sources.InputMissing as error:
            inputs, missing = None, str(error)
        return cls(spec, profile, source, code_hashes(spec.module), inputs, missing)

    def key(self, device_type: str, precision: str) -> dict:
        if self.inputs is None:
            raise sources.InputMissing(self.inputs_missing)
        return {
            "code": stable_hash(self.code),
            "config": stable_hash(self.values),
            "inputs": stable_hash(sources.key_part(self.inputs)),
            "profile": self.profile,
            "versions": self.versions,
            "device_type": device_type,
            "precision": precision,
        }


# ----- stored results -----------------------------------------------------------------------------

NOT_OUTPUTS = ("provenance.json", "verify.json")  # written after the run (verify.json by --verify)


def output_hashes(folder: Path) -> dict[str, str]:
    """{path relative to the folder: sha256} of every file a run wrote into it (provenance's `outputs`)."""
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() not in NOT_OUTPUTS
    )
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def outputs_problem(folder: Path, outputs: dict) -> str:
    """Why the files listed in provenance's `outputs` are not what the run wrote ("" when they are)."""
    wrong = []
    for name, digest in sorted(outputs.items()):
        path = folder / name
        if not path.is_file():
            wrong.append(f"{path} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            wrong.append(f"{path} changed")
    if not wrong:
        return ""
    return (
        "outputs differ from provenance.json: "
        + ", ".join(wrong[:3])
        + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
    )


def read_stored(folder: Path) -> tuple[dict | None, str]:
    """(provenance, "") when metrics.json and provenance.json are both readable and the outputs it
    lists are there unchanged; (provenance, why) when they are not; (None, why) when unreadable."""
    if not folder.is_dir():
        return None, "no results yet"
    loaded = {}
    for name in ("metrics.json", "provenance.json"):
        path = folder / name
        try:
            loaded[name] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, f"results incomplete: {path} is missing"
        except (OSError, ValueError) as error:
            return None, f"results unreadable: {path}: {error}"
        if not isinstance(loaded[name], dict):
            return None, f"results unreadable: {path}: not a JSON object"
    if not isinstance(loaded["provenance.json"].get("key"), dict):
        return None, f"results unreadable: {folder / 'provenance.json'}: no cache key"
    provenance = loaded["provenance.json"]
    outputs = provenance.get("outputs")
    return provenance, outputs_problem(folder, outputs) if isinstance(outputs, dict) else ""


def flatten(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict) and obj:
        out = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def changed_keys(old: dict, new: dict) -> list[str]:
    a, b = flatten(old or {}), flatten(new or {})
    return sorted(k for k in set(a) | set(b) if a.get(k, object) != b.get(k, object))


def _release(version: str | None) -> str | None:
    return version.split("+", 1)[0] if version else version


@dataclass
class Verdict:
    stale: list[str]  # reasons to rerun; empty when the stored results still hold
    notes: list[str]  # kept, but worth saying (inputs absent, other device or precision)
    provenance: dict | None

    @property
    def fresh(self) -> bool:
        return not self.stale


def _code_reason(current: Current, stored: dict) -> str:
    old = stored.get("code_hashes")
    if not isinstance(old, dict):
        return "code changed (no per-file hashes stored)"
    changed = [p for p in current.code if old.get(p) != current.code[p]]
    # a hash of another scheme (a byte hash where this code hashes the meaning) says nothing of the file
    rehashed = [p for p in changed if p in old and _scheme(str(old[p])) != _scheme(current.code[p])]
    names = [f"{p} (new)" if p not in old else p for p in changed if p not in rehashed]
    names += [f"{p} (no longer used)" for p in old if p not in current.code]
    if rehashed:
        schemes = ", ".join(sorted({_scheme(current.code[p]) for p in rehashed}))
        files = f"{len(rehashed)} file" + ("s" if len(rehashed) > 1 else "")
        names.insert(0, f"{files} hashed by an earlier scheme (now {schemes})")
    return "code changed: " + ", ".join(names)


def _scheme(digest: str) -> str:
    """The scheme tag of a code hash (`ast1:`, `yaml1:`), or `sha256` for a bare byte hash."""
    return digest.split(":", 1)[0] + ":" if ":" in digest else "sha256"


def _versions_reason(current: Current, key: dict) -> str:
    old = key.get("versions")
    if not isinstance(old, dict):
        return "versions not recorded (results from before versions joined the cache key)"
    changed = [
        f"{p} {old.get(p)} -> {v}"
        for p, v in current.versions.items()
        if v is not None and _release(old.get(p)) != _release(v)
    ]
    return "versions changed: " + ", ".join(changed) if changed else ""


def compare(
    current: Current,
    stored: dict | None,
    problem: str = "",
    device_type: str | None = None,
    precision: str | None = None,
) -> Verdict:
    """Why the stored results (provenance) must be rerun, if at all, and what is worth saying
    (`problem`: what read_stored found wrong with them)."""
    if stored is None:
        return Verdict([problem or "no results yet"], [], None)
    key, stale, notes = stored["key"], [problem] if problem else [], []
    if key.get("profile") != current.profile:
        stale.append(f"profile {key.get('profile')} -> {current.profile}")
    if key.get("code") != stable_hash(current.code):
        stale.append(_code_reason(current, stored))
    if key.get("config") != stable_hash(current.values):
        keys = changed_keys(stored.get("config", {}), current.values)
        shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        stale.append("config changed: " + (shown or "(values equal, types differ)"))
    if current.inputs is None:
        notes.append(f"inputs not present here; kept from {stored.get('git_commit', 'an unknown commit')}")
    elif key.get("inputs") != stable_hash(sources.key_part(current.inputs)):
        old = sources.key_part(stored.get("inputs") or {})
        new = sources.key_part(current.inputs)
        names = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
        stale.append("inputs changed: " + (", ".join(names) or "fingerprints differ"))
    reason = _versions_reason(current, key)
    if reason:
        stale.append(reason)
    made = (key.get("device_type"), key.get("precision"))
    if device_type and precision and None not in made and made != (device_type, precision):
        notes.append(
            f"made with {made[1]} on {made[0]}; this machine would use {precision}"
            + (f" on {device_type}" if made[0] != device_type else "")
            + ": --force reruns here"
        )
    return Verdict(stale, notes, stored)

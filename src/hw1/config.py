"""One typed configuration loader for every experiment.

configs/<name>.yaml has `common:` and `profiles: {smoke: ..., cpu: ..., gpu: ...}`. A profile is
deep-merged over `common` (mappings merge key by key, anything else is replaced). The merged
mapping is then checked against the experiment's `Config` dataclass: unknown keys, missing keys and
wrong types are refused with one line that names the file and the key where the value was written:

    configs/segmentation.yaml: profiles.cpu.models.segformer.train_size: expected [h, w], got 32

Field types understood: bool, int, float (an int is accepted), str, X | None, Literal[...],
list[T], tuple[T, ...], dict[str, T], dict, nested dataclasses, and Annotated[T, Check(...)] for
a description and a range. A dataclass may define `check(self)` raising `Invalid(key, message)`
for rules between fields. This module imports no torch: the runner uses it before any work.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hw1.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "configs"


class Invalid(ValueError):
    """Raised by a Config's check(): `key` is relative to that dataclass (dotted for nested)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key, self.message = key, message


@dataclass(frozen=True)
class Check:
    """Annotated[T, Check(...)]: what to say in an error, and optional bounds."""

    describe: str = ""
    length: int | None = None  # for lists
    min: float | None = None  # for numbers, or each number of a list
    max: float | None = None
    multiple_of: int | None = None


# ----- reading and merging ------------------------------------------------------------------------


@dataclass
class Source:
    """A profile's merged values, and where each was written (for error messages)."""

    file: str  # e.g. configs/bert.yaml
    profile: str
    values: dict
    profile_keys: set  # dotted keys written (or merged into) under profiles.<profile>
    overridden: set = dataclasses.field(default_factory=set)  # dotted keys given with --set/--pretrained

    def where(self, dotted: str) -> str:
        """'profiles.cpu.a.b' when the value (or its top part) came from the profile, else 'common.a.b';
        'a.b (given on the command line)' for a value given with --set or --pretrained."""
        parts = dotted.split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in self.overridden:
                return f"{dotted} (given on the command line)"
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in self.profile_keys:
                return f"profiles.{self.profile}.{dotted}"
        return f"common.{dotted}"

    def error(self, dotted: str, message: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.where(dotted)}: {message}")


def deep_merge(base: dict, override: dict, prefix: str = "", touched: set | None = None) -> dict:
    out = dict(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value, dotted + ".", touched)
        else:
            out[key] = value
            if touched is not None:
                touched.add(dotted)
    return out


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def read(
    name: str,
    profile: str,
    config_dir: Path = CONFIG_DIR,
    overrides: tuple = (),
    max_steps: int | None = None,
) -> Source:
    """configs/<name>.yaml for `profile`, then the (dotted key, value) `overrides`, the from-scratch
    recipes (resolve_from_scratch) and the step cap (`max_steps`, else $HW1_MAX_STEPS; cap_steps)."""
    path = config_dir / f"{name}.yaml"
    file = _relative(path)
    if not path.is_file():
        raise ConfigError(f"experiment {name!r} has no configuration file {file}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else "syntax error"
        mark = getattr(error, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{file}: not valid YAML{at}: {first}") from None
    if not isinstance(data, dict) or set(data) - {"common", "profiles"}:
        extra = sorted(set(data) - {"common", "profiles"}) if isinstance(data, dict) else []
        raise ConfigError(
            f"{file}: expected only the top-level keys 'common' and 'profiles'"
            + (f", found {', '.join(map(str, extra))}" if extra else "")
        )
    common, profiles = data.get("common") or {}, data.get("profiles") or {}
    if not isinstance(common, dict) or not isinstance(profiles, dict):
        raise ConfigError(f"{file}: 'common' and 'profiles' must be mappings")
    if profile not in profiles:
        raise ConfigError(
            f"{file}: no section for profile {profile!r} under 'profiles' "
            f"(has: {', '.join(profiles) or 'none'})"
        )
    section = profiles[profile] or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: profiles.{profile} must be a mapping")
    touched: set = set()
    values = deep_merge(common, section, "", touched)
    for dotted, value in overrides:
        set_dotted(values, dotted, value, file)
        touched.add(dotted)
    values = resolve_from_scratch(values)
    for dotted, value in overrides:  # again: what was given wins over a from-scratch recipe
        if "from_scratch" not in dotted.split("."):
            set_dotted(values, dotted, value, file)
    cap = max_steps_from_env() if max_steps is None else max_steps
    if cap:
        values = cap_steps(values, cap)
    return Source(file, profile, values, touched, {dotted for dotted, _ in overrides})


# ----- command-line overrides, from-scratch recipes and the step cap ------------------------------

MAX_STEPS_ENV = "HW1_MAX_STEPS"
# Step counts of a run. The cap shrinks them and nothing else: the same code runs, fewer times.
STEP_KEYS = ("steps", "ablation_steps", "low_res_steps", "early_steps", "warmup_steps", "eval_every")


def max_steps_from_env() -> int | None:
    text = os.environ.get(MAX_STEPS_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"${MAX_STEPS_ENV}={text!r}: expected a positive integer (the largest step count)")
    return int(text)


def set_dotted(values: dict, dotted: str, value: Any, file: str) -> None:
    """values[a][b][c] = value for dotted 'a.b.c' (an override from the command line)."""
    parts = dotted.split(".")
    node = values
    for k, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{file}: cannot set {dotted}: {'.'.join(parts[: k + 1])} is not a mapping")
        node = child
    node[parts[-1]] = value


def resolve_from_scratch(values: dict) -> dict:
    """A mapping with `from_scratch:` (a mapping) gets it merged over itself when its `pretrained`
    is null (e.g. `--pretrained NAME=none`): the profile's recipe for training that model from random
    weights. With a checkpoint the recipe is dropped. Either way the key is gone before type checks."""
    out = {}
    for key, value in values.items():
        out[key] = resolve_from_scratch(value) if isinstance(value, dict) else value
    recipe = out.pop("from_scratch", None)
    if isinstance(recipe, dict) and not out.get("pretrained"):
        out = deep_merge(out, recipe)
    return out


def cap_steps(values: dict, cap: int) -> dict:
    """Every mapping whose `steps` exceed `cap` gets steps = cap and its other step counts (STEP_KEYS)
    scaled by the same factor, at least 1; a count below `steps` stays below it (both phases of a
    progressive schedule still run) and a multiple of eval_every stays one (evaluations still line up)."""
    out = {k: cap_steps(v, cap) if isinstance(v, dict) else v for k, v in values.items()}
    steps = out.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= cap:
        return out
    factor = cap / steps
    scaled = lambda v: min(cap, max(1, round(v * factor)))  # noqa: E731
    old_eval = out.get("eval_every") if isinstance(out.get("eval_every"), int) else None
    new_eval = scaled(old_eval) if old_eval else None
    for key in STEP_KEYS:
        v = out.get(key)
        if key in ("steps", "eval_every") or not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            continue
        new = scaled(v)
        if old_eval and v % old_eval == 0:
            new = max(new_eval, new // new_eval * new_eval)
        if v < steps and cap > 1:
            new = min(new, cap - 1)
        out[key] = new
    out["steps"] = cap
    if new_eval:
        out["eval_every"] = new_eval
    return out


# ----- checking against a dataclass ---------------------------------------------------------------


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return args[1].describe or _describe(args[0])
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_describe(a) for a in inner) + (" or null" if len(inner) < len(args) else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (list, tuple):
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin is dict or tp is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(tp, value, key: str, src: Source):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    bad = lambda: src.error(key, f"expected {_describe(tp)}, got {_show(value)}")  # noqa: E731
    if tp is Any:
        return value
    if origin is typing.Annotated:
        inner, check = args[0], args[1]
        try:
            out = _convert(inner, value, key, src)
        except ConfigError:
            if check.describe:
                raise src.error(key, f"expected {check.describe}, got {_show(value)}") from None
            raise
        _bounds(out, check, key, src, value)
        return out
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad()
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad()
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, key, src)
            except ConfigError:
                continue
        raise bad()
    if origin is typing.Literal:
        if value in args:
            return value
        raise bad()
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list):
            raise bad()
        item = args[0] if args else Any
        out = [_convert(item, v, f"{key}[{i}]", src) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise bad()
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(item, v, f"{key}.{k}", src) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        return _build(tp, value, key + ".", src)
    raise TypeError(f"hw1.config: unsupported field type {tp!r} at {key}")


def _bounds(out, check: Check, key: str, src: Source, raw) -> None:
    expected = check.describe
    if check.length is not None and isinstance(out, (list, tuple)) and len(out) != check.length:
        raise src.error(key, f"expected {expected or f'{check.length} values'}, got {_show(raw)}")
    numbers = list(out) if isinstance(out, (list, tuple)) else [out]
    for v in numbers:
        if not isinstance(v, (int, float)):
            continue
        if check.min is not None and v < check.min or check.max is not None and v > check.max:
            lo = "" if check.min is None else f">= {check.min:g}"
            hi = "" if check.max is None else f"<= {check.max:g}"
            raise src.error(
                key,
                f"expected {expected + ', ' if expected else ''}"
                f"{' and '.join(x for x in (lo, hi) if x)}, got {_show(raw)}",
            )
        if check.multiple_of and isinstance(v, int) and v % check.multiple_of:
            raise src.error(
                key,
                f"expected {expected + ', ' if expected else ''}multiples of "
                f"{check.multiple_of}, got {_show(raw)}",
            )


def _build(cls, values: dict, prefix: str, src: Source):
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise src.error(prefix + str(unknown[0]), f"unknown option (known here: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name in values:
            kwargs[name] = _convert(hints[name], values[name], prefix + name, src)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(
                f"{src.file}: profiles.{src.profile}.{prefix}{name}: missing "
                f"(expected {_describe(hints[name])})"
            )
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if callable(check):
        try:
            check()
        except Invalid as error:
            raise src.error(prefix + error.key, error.message) from None
    return obj


def build(cls, src: Source):
    """The typed config of `cls` (a dataclass) from a Source, or a one-line ConfigError."""
    return _build(cls, src.values, "", src)


def load(cls, name: str, profile: str, config_dir: Path = CONFIG_DIR):
    return build(cls, read(name, profile, config_dir))

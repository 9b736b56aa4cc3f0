"""Reading what the pages show: results/<name>/ (metrics.json, tables, data, provenance.json,
verify.json), each experiment's configuration as it ran, and the text/*.yaml the site loads.
Every missing or damaged file fails the build with one line that names it."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import yaml
from mkdocs.exceptions import PluginError

from hw1 import config as hw1_config
from hw1.errors import ConfigError
from hw1.experiments import EXPERIMENTS  # the registry; imports no ML library


class ResultError(PluginError):
    pass


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


class Reported(float):
    """A number as a report wrote it: compares and formats as a float, keeps its digits in .text."""

    def __new__(cls, text: Any):
        number = super().__new__(cls, float(text))
        number.text = str(text)
        return number


class Node:
    """Attribute/item access into a metrics.json that names experiment and key when one is missing."""

    def __init__(self, value: Any, experiment: str, path: str):
        self._value, self._experiment, self._path = value, experiment, path

    def _child(self, key: str) -> Any:
        value = self._value
        if isinstance(value, dict) and key in value:
            child = value[key]
        elif (
            isinstance(value, list)
            and re.fullmatch(r"-?\d+", str(key))
            and -len(value) <= int(key) < len(value)
        ):
            child = value[int(key)]
        else:
            where = f"{self._path}.{key}" if self._path else key
            raise ResultError(f"results/{self._experiment}/metrics.json has no key '{where}'")
        path = f"{self._path}.{key}" if self._path else str(key)
        return Node(child, self._experiment, path) if isinstance(child, (dict, list)) else child

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self._child(key)

    def __getitem__(self, key) -> Any:
        return self._child(str(key))

    def __iter__(self):
        value = self._value
        return iter(value.keys() if isinstance(value, dict) else value)

    def __len__(self):
        return len(self._value)

    def __contains__(self, key) -> bool:  # {% if "key" in R.experiment.part %} for optional keys
        return key in self._value

    def items(self):
        return [(k, self._child(k)) for k in self._value]

    def raw(self):
        return self._value


def read_json(path: Path, shown: str) -> Any:
    """json.loads of a results file; a damaged one fails the build with one line that names it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultError(
            f"{shown} is unreadable ({error}); rerun that experiment: "
            f"python build_results.py --only {shown.split('/')[1]}"
        ) from None


def check_config(experiment: str, profile: str, values: dict) -> None:
    """The configuration an experiment ran with, checked against its Config dataclass by hw1.config
    (unknown keys, missing keys, wrong types). The dataclass lives in the experiment's module, which
    imports torch: without torch (the Pages job installs the site's requirements only) the recorded
    values are used as they are, unchecked (`build_results.py --check` compares them with configs/)."""
    spec = EXPERIMENTS.get(experiment)
    if spec is None or not isinstance(values, dict) or importlib.util.find_spec("torch") is None:
        return
    module = importlib.import_module(spec.module)
    source = hw1_config.Source(f"results/{experiment}/provenance.json (config)", str(profile), values, set())
    try:
        hw1_config.build(module.Config, source)
    except ConfigError as error:
        raise ResultError(
            f"{error}: the results were made by another version of the code; rerun that "
            f"experiment: python build_results.py --only {experiment}"
        ) from None


class Results:
    def __init__(self, root: Path):
        self.root = root
        self._checked: set[str] = set()

    def exists(self, experiment: str) -> bool:
        return (self.root / experiment / "metrics.json").is_file()

    def metrics(self, experiment: str) -> Node:
        path = self.root / experiment / "metrics.json"
        if not path.is_file():
            raise ResultError(
                f"results/{experiment}/metrics.json does not exist: wrap the part of the "
                f'page that uses it in {{% call computed("{experiment}") %}}'
            )
        return Node(read_json(path, f"results/{experiment}/metrics.json"), experiment, "")

    def json(self, experiment: str, relative: str) -> Any:
        path = self.root / experiment / relative
        if not path.is_file():
            raise ResultError(f"results/{experiment}/{relative} does not exist")
        return read_json(path, f"results/{experiment}/{relative}")

    def config(self, experiment: str) -> dict | None:
        """The configuration the experiment's results were made with: provenance.json's `config`, the
        values hw1.config resolved for that run (profile, from-scratch recipes, command-line overrides
        and step cap applied), type-checked once where the experiment's module imports (check_config)."""
        provenance = self.json(experiment, "provenance.json")
        values = provenance.get("config")
        if experiment not in self._checked:
            check_config(experiment, provenance.get("profile"), values)
            self._checked.add(experiment)
        return values

    def provenance(self) -> list[dict]:
        found = []
        for path in sorted(self.root.glob("*/provenance.json")):
            found.append(read_json(path, f"results/{path.parent.name}/provenance.json"))
        return found

    def overridden(self) -> dict[str, dict]:
        """{experiment: its provenance's `overrides`} for the results made with command-line overrides."""
        return {p["experiment"]: p["overrides"] for p in self.provenance() if p.get("overrides")}

    def verify(self, experiment: str) -> dict | None:
        """results/<name>/verify.json (written by build_results.py --verify), or None."""
        path = self.root / experiment / "verify.json"
        return read_json(path, f"results/{experiment}/verify.json") if path.is_file() else None


def profile_config(experiment: str, profile: str) -> dict:
    """A profile's configuration as the runner would resolve it (hw1.config.read: `common` deep-merged
    with `profiles.<profile>`, from-scratch recipes resolved; no step cap), for a profile the committed
    results do not come from: no run recorded it."""
    try:
        return hw1_config.read(experiment, profile, max_steps=0).values
    except ConfigError as error:
        raise ResultError(str(error)) from None

"""Runs experiments into results/, like Quarto's freeze: only what changed is recomputed.

    freshness.py   the cache key, what this checkout would make, why stored results are stale
    folders.py     the results folder: lock, atomic swap, recovery
    execute.py     planning (no torch) and running (torch, only when something runs)
    audit.py       --check and --verify
    cli.py         the options (all checked before any work), the summary, what to do next

Nothing here imports torch until an experiment actually runs.
"""

from __future__ import annotations

from pathlib import Path

from hw1 import config as _config
from hw1.errors import ConfigError
from hw1.runner.cli import main
from hw1.runner.folders import ResultsBusy, lock_results, recover, swap_in
from hw1.runner.freshness import code_files, code_hashes, stable_hash


def load_config(name: str, profile: str, config_dir: Path = _config.CONFIG_DIR) -> dict:
    """The merged (untyped) values of configs/<name>.yaml for a profile (see hw1.config.read)."""
    return _config.read(name, profile, config_dir).values


__all__ = [
    "ConfigError",
    "ResultsBusy",
    "code_files",
    "code_hashes",
    "load_config",
    "lock_results",
    "main",
    "recover",
    "stable_hash",
    "swap_in",
]

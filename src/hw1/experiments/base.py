"""The small interface every experiment shares.

An experiment is a module `hw1.experiments.<name>` with one function

    def run(config: Config, ctx: Context) -> dict   # returns metrics (JSON-serialisable)

`config` is the module's `Config` dataclass, filled by hw1.config from `configs/<name>.yaml`
(`common` deep-merged with the profile's section, every key and type checked). Everything it produces goes through `ctx`, into a temporary folder that the runner
swaps in as `results/<name>/` only when `run` returns. Layout of that folder:

    metrics.json            what run() returned; everything measured in seconds (or per second)
                            sits under keys named `timing`: the rest is identical on a rerun
    provenance.json         written by the runner
    figures/<fig>.<lang>.svg  plots, drawn in each language; figures/<fig>.png  images without words
    tables/<table>.json     {"columns": [...], "rows": [[...], ...]}
    data/<name>.json        anything else a page or a script reads (e.g. attention maps)

This module imports neither torch nor matplotlib: the runner must start fast.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Numbers from numpy/torch become plain floats/ints; NaN and inf become None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return to_jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def round_floats(obj: Any, digits: int = 6) -> Any:
    """Floats rounded to `digits` decimals, at any depth (metrics are reported, not accumulated)."""
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [round_floats(v, digits) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(to_jsonable(obj), indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8"
    )


@dataclass
class Context:
    name: str  # experiment name, e.g. "classification"
    profile: str  # smoke | cpu | gpu
    out_dir: Path  # temporary results folder; swapped in on success
    data_root: Path  # where datasets are looked for
    device: str  # "cpu", "cuda", "cuda:1", ...
    seed: int
    cache_dir: Path  # for decoded datasets and other derived, uncommitted files
    precision: str = "fp32"  # "bf16" or "fp32": chosen once by the runner (hw1.train.precision)
    interactive: bool = field(default_factory=lambda: sys.stderr.isatty())

    # ----- outputs -------------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        p = self.out_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def save_figure(self, name: str, draw, fmt: str = "svg") -> list[Path]:
        """Draw a figure in each language, draw(w) -> Figure with w = hw1.plots.Words, and save it
        reproducibly (no date, fixed SVG ids) as figures/<name>.<lang>.<fmt>."""
        import matplotlib
        import matplotlib.pyplot as plt

        from hw1 import plots

        paths = []
        for lang, fig in plots.draw_each_language(draw):
            matplotlib.rcParams["svg.hashsalt"] = f"hw1-{self.name}-{name}-{lang}"
            path = self.path("figures", f"{name}.{lang}.{fmt}")
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            fig.savefig(path, format=fmt, bbox_inches="tight", metadata=metadata, dpi=110)
            plt.close(fig)
            paths.append(path)
        return paths

    def save_image(self, image, name: str) -> Path:
        """Save an HxWx3 (or HxW) uint8 array as PNG."""
        import numpy as np
        from PIL import Image

        path = self.path("figures", f"{name}.png")
        Image.fromarray(np.asarray(image)).save(path, optimize=True)
        return path

    def save_table(self, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
        path = self.path("tables", f"{name}.json")
        write_json(path, {"columns": list(columns), "rows": [list(r) for r in rows]})
        return path

    def save_json(self, name: str, obj: Any) -> Path:
        path = self.path("data", f"{name}.json")
        write_json(path, obj)
        return path

    # ----- feedback ------------------------------------------------------------------------
    def log(self, message: str) -> None:
        print(f"[{self.name}] {message}", file=sys.stderr, flush=True)

    def progress(
        self, iterable: Iterable | None = None, total: int | None = None, desc: str = ""
    ) -> Iterator:
        """A tqdm bar on a terminal; otherwise a plain line at every 10 % (and at least every 30 s)."""
        if iterable is None:
            iterable = range(total or 0)
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        label = f"[{self.name}] {desc}".rstrip()
        if self.interactive:
            from tqdm.auto import tqdm

            yield from tqdm(iterable, total=total, desc=label, leave=False, dynamic_ncols=True)
            return
        start = last_print = time.monotonic()
        next_fraction = 0.1
        for i, item in enumerate(iterable, 1):
            yield item
            now = time.monotonic()
            done = total and i / total >= next_fraction
            if done or now - last_print > 30 or (total and i == total):
                where = f"{i}/{total}" if total else str(i)
                eta = f", about {(now - start) * (total - i) / i:.0f} s left" if total and i < total else ""
                print(f"{label}: {where} ({now - start:.0f} s{eta})", file=sys.stderr, flush=True)
                last_print = now
                while total and i / total >= next_fraction:
                    next_fraction += 0.1


def resolve_device(requested: str | None) -> str:
    """'auto' (or None) -> 'cuda' when available, else 'cpu'. Checks an explicit CUDA request."""
    import torch

    if requested in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        from hw1.errors import ConfigError

        raise ConfigError(f"--device {requested}: CUDA is not available on this machine")
    return requested

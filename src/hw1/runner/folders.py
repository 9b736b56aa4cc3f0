"""The results folder: one writer at a time, atomic swaps, recovery after a crash.

An experiment runs into results/.tmp-<name>-<pid>/ and is swapped in only on success, so a crash,
Ctrl-C or kill leaves the previous results byte-identical. A run with nothing to write takes no
lock (a read-only checkout of committed results is fine).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hw1.errors import ReportError


class ResultsBusy(ReportError):
    pass


def lock_results(results: Path):
    """One build_results.py per results folder: a second one would clean up the first one's work."""
    import fcntl

    try:
        results.mkdir(parents=True, exist_ok=True)
        handle = open(results / ".lock", "w")
    except OSError as error:
        raise ReportError(
            f"cannot write to the results folder {results} "
            f"({error.strerror or error}); choose another one with --results"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ResultsBusy(
            f"another build_results.py is writing to {results} (lock {results / '.lock'}); "
            "wait for it to finish"
        ) from None
    return handle  # the lock lasts as long as the handle is open


def recover(results: Path) -> None:
    """Undo what an interrupted swap or run left behind (called with the results folder locked)."""
    if not results.is_dir():
        return
    for leftover in results.glob(".old-*"):
        name = leftover.name[len(".old-") :].rsplit("-", 1)[0]
        target = results / name
        if target.exists():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.rename(target)
    for leftover in results.glob(".tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def tidy(results: Path) -> None:
    """Clean up after an interrupted run, before anything is read, when the folder is free and
    writable (a read-only folder of committed results has nothing to clean)."""
    if not results.is_dir() or not any(results.glob(".tmp-*")) and not any(results.glob(".old-*")):
        return
    try:
        handle = lock_results(results)
    except ReportError:
        return
    try:
        recover(results)
    finally:
        handle.close()


def fresh_tmp(results: Path, name: str) -> Path:
    tmp = results / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def swap_in(tmp: Path, final: Path) -> None:
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)

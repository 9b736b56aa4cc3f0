"""The documentation every CPython ships, as text: the help topics and the standard library's docstrings.

    pydoc_data.topics       ~80 help topics of the language reference ("exceptions", "compound", ...)
    the standard library    the docstrings of every public module, class, function and method of
                            the modules in sys.stdlib_module_names and their submodules

Extraction imports a few hundred modules, so it runs in a child process (`python -P -m
hw1.data.stdlib_docs OUT`, in an empty working folder, PYTHONHASHSEED=0): nothing those imports do
reaches the caller, and the result does not depend on what the caller imported before. Modules
with side effects on import (a browser, a window, printed text) and test suites are never imported
(DENY). The walk is in sorted order and every docstring is read from the object itself (its own
`__doc__`, not an inherited one), so the same Python gives the same text, byte for byte.

The result, {"python": ..., "sha256": ..., "documents": {name: text}}, is cached as
<cache>/stdlib_docs/<key>.json, the key naming the Python version and build and the source of this
module; its sha256 is the corpus fingerprint (hw1.data.sources, input `pydoc_corpus`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# never imported: side effects on import, GUI toolkits, test suites, platform-specific shims,
# and encodings.* (a hundred codec tables with one-line docstrings)
DENY = (
    "antigravity",
    "this",
    "idlelib",
    "tkinter",
    "turtle",
    "turtledemo",
    "test",
    "lib2to3.tests",
    "lib2to3.fixes",
    "ctypes.test",
    "distutils.tests",
    "unittest.test",
    "sqlite3.test",
    "tkinter.test",
    "encodings",
    "pydoc_data",
    "__main__",
    "__hello__",
    "__phello__",
    "idle",
    "ensurepip._bundled",
    "msilib",
    "winreg",
    "winsound",
    "msvcrt",
    "nt",
    "_winapi",
    "ntpath",
    "nturl2path",
    "multiprocessing.popen_spawn_win32",
    "asyncio.windows_events",
    "asyncio.windows_utils",
    "distutils.msvc9compiler",
    "distutils._msvccompiler",
    "distutils.command.bdist_msi",
    "xxsubtype",
    "xxlimited",
    "_xxsubinterpreters",
    "_xxtestfuzz",
    "_testcapi",
    "_testinternalcapi",
)
TIMEOUT_S = 600


def denied(name: str) -> bool:
    return any(name == d or name.startswith(d + ".") for d in DENY) or ".test" in name or ".tests" in name


def public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def own_doc(obj) -> str:
    """The object's own docstring, cleaned (inspect.cleandoc); '' when it has none of its own."""
    import inspect

    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _members(module) -> list[str]:
    """Docstrings of the public classes, functions and methods defined in `module`, sorted by name."""
    import inspect

    docs = []
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            docs.append(own_doc(obj))
            for attr, member in sorted(vars(obj).items()):
                if not attr.startswith("_") and (inspect.isroutine(member) or isinstance(member, property)):
                    docs.append(own_doc(member.fget if isinstance(member, property) else member))
        elif inspect.isroutine(obj):
            docs.append(own_doc(obj))
    return [d for d in docs if d]


def _import(name: str):
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except (Exception, SystemExit):  # ImportError, platform errors, SystemExit of a script module;
            return None  # not KeyboardInterrupt: Ctrl-C stops the extraction


def module_names(max_modules: int | None = None) -> list[str]:
    """Public stdlib modules and submodules (not DENY), sorted; packages walked with pkgutil."""
    import pkgutil

    found, todo = set(), sorted(n for n in sys.stdlib_module_names if public(n) and not denied(n))
    while todo:
        name = todo.pop(0)
        module = _import(name)
        if module is None:
            continue
        found.add(name)
        for info in sorted(
            pkgutil.iter_modules(getattr(module, "__path__", None) or []), key=lambda i: i.name
        ):
            child = f"{name}.{info.name}"
            if public(child) and not denied(child):
                todo.append(child)
        todo.sort()
        if max_modules is not None and len(found) >= max_modules:
            break
    return sorted(found)


def extract(max_modules: int | None = None) -> dict[str, str]:
    """{document name: text}: 'topic:<name>' for the help topics, the module's name for a module
    (its docstring, then its members'). Run in a child process (see `extracted`)."""
    from pydoc_data.topics import topics

    documents = {f"topic:{name}": topics[name] for name in sorted(topics)}
    for name in module_names(max_modules):
        module = sys.modules[name]
        parts = [own_doc(module), *_members(module)]
        text = "\n\n".join(p for p in parts if p)
        if text:
            documents[name] = text
    return documents


def cache_key(max_modules: int | None) -> str:
    source = Path(__file__).read_bytes()
    ident = f"{sys.version}|{sys.platform}|{max_modules}|".encode() + source
    return f"py{sys.version_info.major}.{sys.version_info.minor}-{hashlib.sha256(ident).hexdigest()[:16]}"


def digest(documents: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(documents, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def extracted(cache_dir: Path | None, max_modules: int | None = None) -> dict:
    """{"python", "sha256", "documents", "seconds"}: read from the cache, or extracted in a child
    process and cached. `seconds` is the extraction time (also when read from the cache)."""
    path = Path(cache_dir) / "stdlib_docs" / f"{cache_key(max_modules)}.json" if cache_dir else None
    if path is not None and path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            pass  # a broken cache file: extract again
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "docs.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(
            PYTHONHASHSEED="0",
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        )
        args = [sys.executable, "-P", "-m", "hw1.data.stdlib_docs", str(out)]
        if max_modules is not None:
            args.append(str(max_modules))
        proc = subprocess.run(
            args,
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0 or not out.is_file():
            from hw1.errors import DataError

            raise DataError(f"extracting the standard library's docstrings failed: {proc.stderr[-500:]}")
        result = json.loads(out.read_text(encoding="utf-8"))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp_path = path.with_suffix(f".{os.getpid()}.tmp")
            tmp_path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
            tmp_path.replace(path)
        except OSError:
            pass  # a read-only cache only costs time
    return result


def _main(argv: list[str]) -> None:
    import time

    start = time.perf_counter()
    documents = extract(int(argv[1]) if len(argv) > 1 else None)
    result = {
        "python": sys.version.split()[0],
        "sha256": digest(documents),
        "documents": documents,
        "seconds": time.perf_counter() - start,
    }
    Path(argv[0]).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    os._exit(0)  # skip atexit handlers and thread joins of the imported modules


if __name__ == "__main__":
    _main(sys.argv[1:])

"""Reading a .tar.gz in one sequential pass, refusing unsafe member names.

Random access into a gzip stream decompresses from the start every time (minutes instead of
seconds on CamVid), so archives are only ever streamed ("r|gz").
"""
from __future__ import annotations

import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from hw1.errors import DataError


def safe_member_name(archive: Path, name: str) -> str:
    """The member's normalised relative path; DataError for absolute paths or '..' parts."""
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ".." in path.parts:
        raise DataError(f"{archive}: refusing unsafe member path {name!r} (absolute or with '..')")
    parts = [p for p in path.parts if p not in ("", ".")]
    return "/".join(parts)


def iter_files(archive: Path, wanted: Callable[[str], bool] = lambda name: True
               ) -> Iterator[tuple[str, bytes]]:
    """Yield (relative name, content) for each regular file the filter accepts, in archive order.

    Every member name is checked, wanted or not. A truncated or corrupt archive raises DataError
    naming the file.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise DataError(f"archive {archive} does not exist")
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                name = safe_member_name(archive, member.name)
                if member.issym() or member.islnk():
                    if wanted(name):
                        raise DataError(f"{archive}: refusing link member {member.name!r}")
                    continue
                if not member.isfile() or not wanted(name):
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    raise DataError(f"{archive}: cannot read member {member.name!r}")
                yield name, handle.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DataError(f"{archive}: corrupt or truncated archive ({error})") from None

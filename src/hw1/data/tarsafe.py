"""Reading a .tar.gz in one sequential pass, refusing unsafe member names.

Random access into a gzip stream decompresses from the start every time (minutes instead of
seconds on CamVid), so archives are only ever streamed ("r|"). A gzip archive is decompressed by
the gzip module and read to its very end, after the tar's last member: only there does gzip check
the CRC and length of what it decompressed, so that a flipped byte is an error, not damaged images.
"""

from __future__ import annotations

import gzip
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from hw1.errors import DataError


def safe_member_name(archive: Path, name: str) -> str:
    """The member's normalised relative path; DataError for absolute paths or '..' parts."""
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ".." in path.parts:
        raise DataError(f"{archive}: refusing unsafe member path {name!r} (absolute or with '..')")
    parts = [p for p in path.parts if p not in ("", ".")]
    return "/".join(parts)


def iter_files(
    archive: Path, wanted: Callable[[str], bool] = lambda name: True
) -> Iterator[tuple[str, bytes]]:
    """Yield (relative name, content) for each regular file the filter accepts, in archive order.

    Every member name is checked, wanted or not. A truncated or corrupt archive raises DataError
    naming the file; for a gzip archive, a CRC or length mismatch only shows after the last member
    (the consumer must read them all, and keep nothing until then).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise DataError(f"archive {archive} does not exist")
    try:
        with open(archive, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        if not gzipped:  # plain tar, or bz2/xz (tarfile's own streams)
            with tarfile.open(archive, mode="r|*") as tar:
                yield from _members(archive, tar, wanted)
            return
        with gzip.open(archive, "rb") as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                yield from _members(archive, tar, wanted)
            while stream.read(1 << 20):  # the tar's padding, then gzip checks its trailer (CRC, length)
                pass
    except gzip.BadGzipFile as error:
        raise DataError(f"{archive}: corrupt archive, its gzip check failed ({error})") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DataError(f"{archive}: corrupt or truncated archive ({error})") from None


def _members(
    archive: Path, tar: tarfile.TarFile, wanted: Callable[[str], bool]
) -> Iterator[tuple[str, bytes]]:
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


def cannot_decode(where: str, error: Exception) -> DataError:
    """'<where>: cannot decode: <why>' for a file the image decoder refused; `where` names it, e.g.
    '<archive>: <member>'. The decoder's words without the address of its in-memory file."""
    why = re.sub(r" <[^<>]* at 0x[0-9a-fA-F]+>", "", str(error)) or type(error).__name__
    return DataError(f"{where}: cannot decode: {why}")

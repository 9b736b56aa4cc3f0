"""Issue #23, item 1: a corrupt archive must not train silently. Tiny archives built in tmp_path.

(a) an archive with a known name and another sha256 is refused before any decoding, unless
    --accept-data-sha256 accepts it; (b) a gzip archive is read to its end, CRC and length checked;
(c) an image that does not decode is an error naming the archive and the member.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_build
from hw1.data import camvid, cifar10, sources
from hw1.errors import DataError
from test_cifar10 import image_files, make_jpeg_tar

OPTION = "--accept-data-sha256"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tar_gz(path: Path, files, compresslevel: int = 9) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=compresslevel) as tar:
        for name, payload in files:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _camvid_files() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    files = []
    for split in ("train", "val", "test"):
        files.append((f"{split}/img0.png", _png(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))))
        files.append((f"{split}annot/img0.png", _png(rng.integers(0, 12, (6, 8), dtype=np.uint8))))
    return files


# (a) a known name with other bytes: refused before decoding, unless accepted on purpose -----------


def test_a_known_name_with_another_sha256_is_refused_before_decoding(tmp_path):
    data, cache, results = tmp_path / "data", tmp_path / "cache", tmp_path / "results"
    data.mkdir()
    archive = make_jpeg_tar(data / "cifar10-jpeg.tar.gz", image_files())
    proc = run_build(
        "--profile", "cpu", "--only", "classification", "--data-root", str(data), "--results", str(results),
        env={"HW1_CACHE_DIR": str(cache)}, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.startswith("error: classification: ")]
    sha256, expected = _sha256(archive), sources.KNOWN["cifar10-jpeg.tar.gz"]["sha256"]
    assert line.startswith(f"error: classification: {archive} is not the known cifar10-jpeg.tar.gz (CIFAR-10")
    assert f"its sha256 is {sha256}, expected {expected}; refused" in line
    assert line.endswith(f"add {OPTION} {sha256}")
    assert "Traceback" not in proc.stderr and "read anyway" not in proc.stderr
    assert not (cache / "cifar10").exists()  # nothing was decoded
    assert not (results / "classification").exists()


def test_a_the_option_accepts_that_file_with_a_warning_and_its_results_are_stale(tmp_path, monkeypatch):
    from hw1.experiments import EXPERIMENTS
    from hw1.runner.execute import Options, plan_one

    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    archive = make_jpeg_tar(data / "cifar10-jpeg.tar.gz", image_files())
    sha256 = _sha256(archive)
    monkeypatch.setattr(sources, "_accepted", frozenset())
    sources.accept([sha256.upper()])
    # against the committed results (read only): the accepted archive's sha256 makes them stale
    options = Options("cpu", ["classification"], False, data, "cpu", ROOT / "results", cache)
    plan = plan_one(EXPERIMENTS["classification"], options, "cpu")
    assert plan.error == ""
    [warning] = plan.warnings
    assert warning.startswith(f"{archive} is not the known cifar10-jpeg.tar.gz (CIFAR-10")
    assert f"accepted with {OPTION}: read anyway" in warning
    assert (
        plan.current.inputs["cifar10"]["sha256"] == sha256
        and plan.current.inputs["cifar10"]["known"] is False
    )
    assert plan.must_run(False) and any(
        reason.startswith("inputs changed") for reason in plan.verdict.stale
    ), plan.verdict.stale
    assert cifar10.load(data, cache, allow_download=False).x_train.shape == (20, 3, 32, 32)
    # another file with the same name is refused again: the option accepts one sha256
    make_jpeg_tar(archive, image_files(per_class=(1, 1)))
    plan = plan_one(EXPERIMENTS["classification"], options, "cpu")
    assert f"add {OPTION} {_sha256(archive)}" in plan.error and not plan.warnings


def test_a_the_option_is_checked_and_in_the_help(tmp_path):
    proc = run_build("--check", OPTION, "nope", "--results", str(tmp_path / "r"), timeout=120)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"build_results.py: error: {OPTION} nope: expected the 64 hex digits of a sha256"
    )
    assert OPTION in run_build("--help", timeout=120).stdout
    assert OPTION in (ROOT / "README.md").read_text(encoding="utf-8")


# (b) gzip read to its end: CRC and length checked ----------------------------------------------------


def _damage(path: Path, where: str) -> None:
    """Flip one byte: in the compressed stream 300 bytes before the trailer (stored blocks: inside
    the tar's end-of-archive blocks, which tar never reads), or in the trailer's CRC or length."""
    data = bytearray(path.read_bytes())
    at = {"stream": len(data) - 8 - 300, "crc": len(data) - 6, "length": len(data) - 2}[where]
    data[at] ^= 0x10
    path.write_bytes(bytes(data))
    with tarfile.open(path, "r|gz") as tar:  # the members still parse: only gzip's check can tell
        assert len([m.name for m in tar]) > 1


def _readers(tmp_path: Path):
    cifar = tmp_path / "c" / "cifar10-jpeg.tar.gz"
    cifar.parent.mkdir()
    cam = tmp_path / "camvid-segnet.tar.gz"
    return [
        (_tar_gz(cifar, image_files(), compresslevel=0),
         lambda: cifar10.load(cifar.parent, tmp_path / "cache", allow_download=False)),
        (_tar_gz(cam, _camvid_files(), compresslevel=0), lambda: camvid.load_camvid(cam, tmp_path / "cache")),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "where, check",
    [("stream", "CRC check failed"), ("crc", "CRC check failed"), ("length", "Incorrect length")],
)
def test_b_a_damaged_gzip_stream_is_an_error_naming_the_archive(tmp_path, where, check):
    for archive, load in _readers(tmp_path):
        _damage(archive, where)
        with pytest.raises(DataError) as error:
            load()
        message = str(error.value)
        assert message.startswith(f"{archive}: corrupt archive, its gzip check failed ({check}"), message
        assert not list((tmp_path / "cache").rglob("*.npy"))  # nothing decoded was kept


def test_b_an_intact_archive_still_reads_and_a_truncated_one_is_named(tmp_path):
    [(_, load_cifar), (cam, load_cam)] = _readers(tmp_path)
    assert load_cifar().x_test.shape == (10, 3, 32, 32) and len(load_cam()["val"]) == 1
    good = cam.read_bytes()
    cam.write_bytes(good[:-4])  # the trailer cut: the tar members are all there
    with pytest.raises(DataError, match=f"^{cam}: corrupt or truncated archive \\(Compressed file ended"):
        camvid.load_camvid(cam)
    cam.write_bytes(good + gzip.compress(b"\0" * 1024))  # two gzip members (gzip's -c >>) are one stream
    assert len(camvid.load_camvid(cam)["test"]) == 1


# (c) an image that does not decode names the archive and the member ---------------------------------


def _broken_png() -> bytes:
    """A PNG whose second image-data chunk has an invalid type: PIL raises SyntaxError while loading."""
    png = _png(np.full((32, 32, 3), 7, dtype=np.uint8))
    assert png[33 + 4 : 33 + 8] == b"IDAT"
    (n,) = struct.unpack(">I", png[33:37])
    idat = png[41 : 41 + n]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        png[:33] + chunk(b"IDAT", idat[: n // 2]) + chunk(b"\0\1\2\3", idat[n // 2 :]) + chunk(b"IEND", b"")
    )


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
        buffer, "JPEG"
    )
    return buffer.getvalue()


BAD_IMAGES = {
    "not an image": (b"this is not an image", "cannot identify image file"),
    "truncated JPEG": (_jpeg()[:-100], "image file is truncated"),
    "broken PNG chunk": (_broken_png(), "broken PNG file"),
}


@pytest.mark.parametrize("case", BAD_IMAGES)
def test_c_cifar10_image_that_does_not_decode_names_archive_and_member(tmp_path, case):
    payload, why = BAD_IMAGES[case]
    member = "train/frog/0642.jpg" if "JPEG" in case or "not" in case else "train/frog/0642.png"
    archive = make_jpeg_tar(tmp_path / "cifar10-jpeg.tar.gz", [*image_files(), (member, payload)])
    with pytest.raises(DataError) as error:
        cifar10.load(tmp_path, tmp_path / "cache", allow_download=False)
    assert str(error.value).startswith(f"{archive}: {member}: cannot decode: {why}"), str(error.value)
    assert " at 0x" not in str(error.value)


@pytest.mark.parametrize("case", BAD_IMAGES)
def test_c_camvid_image_that_does_not_decode_names_archive_and_member(tmp_path, case):
    payload, why = BAD_IMAGES[case]
    files = dict(_camvid_files())
    files["val/img0.png"] = payload
    archive = _tar_gz(tmp_path / "camvid-segnet.tar.gz", files.items())
    with pytest.raises(DataError) as error:
        camvid.load_camvid(archive)
    assert str(error.value).startswith(f"{archive}: val/img0.png: cannot decode: {why}"), str(error.value)


def test_c_truncated_images_are_never_loaded_silently():
    import subprocess
    import sys

    code = (
        "import hw1.experiments.classification, hw1.experiments.segmentation\n"
        "from PIL import ImageFile\nprint(ImageFile.LOAD_TRUNCATED_IMAGES)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.stdout.strip() == "False", proc.stderr

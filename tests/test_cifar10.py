"""CIFAR-10 loading from every accepted layout, the download path (loopback server), bad input,
the fixed split and the batched augmentation. All archives are tiny and built in tmp_path."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hw1.data import augment, cifar10
from hw1.errors import DataError

CLASSES = cifar10.CLASSES


def _image(label: int, k: int) -> np.ndarray:
    """A flat-coloured 32x32 image: JPEG keeps flat colours almost exactly."""
    colour = np.array([label * 25, 200 - k * 40, 100], dtype=np.uint8)
    return np.broadcast_to(colour, (32, 32, 3)).copy()


def _jpeg(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def image_files(classes=CLASSES, per_class=(2, 1)):
    for split, n in zip(("train", "test"), per_class):
        for label, name in enumerate(classes):
            for k in range(n):
                yield f"{split}/{name}/{k:04d}.jpg", _jpeg(_image(label, k))


def make_jpeg_tar(path: Path, files) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in files:
            _add(tar, name, payload)
    return path


def binary_records(n: int, offset: int = 0) -> bytes:
    labels = (np.arange(n) + offset) % 10
    pixels = np.zeros((n, 3072), dtype=np.uint8) + labels[:, None].astype(np.uint8) * 7
    return np.concatenate([labels[:, None].astype(np.uint8), pixels], axis=1).tobytes()


def make_binary_tar(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for i in range(1, 6):
            _add(tar, f"cifar-10-batches-bin/data_batch_{i}.bin", binary_records(10, i))
        _add(tar, "cifar-10-batches-bin/test_batch.bin", binary_records(20))
        _add(tar, "cifar-10-batches-bin/readme.html", b"<html></html>")
    return path


# ----- layouts ---------------------------------------------------------------------------------


def test_jpeg_archive_decoded_once_then_cached(tmp_path):
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    make_jpeg_tar(root / "cifar10-jpeg.tar.gz", image_files())
    data = cifar10.load(root, cache, allow_download=False)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert data.x_test.shape == (10, 3, 32, 32)
    assert data.y_train.tolist() == [label for label in range(10) for _ in range(2)]
    # the colour survives decoding and the NHWC -> NCHW transpose (JPEG: within a few levels)
    assert abs(int(data.x_train[4, 0, 5, 5]) - 2 * 25) <= 3
    assert abs(int(data.x_train[5, 1, 5, 5]) - 160) <= 3
    assert data.source == "cifar10-jpeg.tar.gz"
    cached = list((cache / "cifar10").glob("*/x_train.npy"))
    assert len(cached) == 1
    # the second load reads the cache: replace the cached pixels and see them come back
    x = np.load(cached[0])
    x[0] = 7
    np.save(cached[0], x)
    assert int(cifar10.load(root, cache, allow_download=False).x_train[0].max()) == 7


def test_image_folder_layout_matches_archive(tmp_path):
    root = tmp_path / "data"
    for name, payload in image_files():
        (root / "cifar10" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "cifar10" / name).write_bytes(payload)
    folder = cifar10.load(root, tmp_path / "c1", allow_download=False)
    other = tmp_path / "other"
    other.mkdir()
    make_jpeg_tar(other / "cifar10-jpeg.tar.gz", image_files())
    archive = cifar10.load(other, tmp_path / "c2", allow_download=False)
    assert torch.equal(folder.x_train, archive.x_train) and torch.equal(folder.y_test, archive.y_test)


def test_binary_archive_and_folder(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    make_binary_tar(root / "cifar-10-binary.tar.gz")
    data = cifar10.load(root, tmp_path / "cache", allow_download=False)
    assert data.x_train.shape == (50, 3, 32, 32) and data.x_test.shape == (20, 3, 32, 32)
    assert data.y_train[:3].tolist() == [1, 2, 3]  # batch 1 starts at label 1
    assert int(data.x_train[0, 2, 31, 31]) == 7  # pixel bytes follow the label byte
    folder = tmp_path / "d2" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    with tarfile.open(root / "cifar-10-binary.tar.gz") as tar:
        for m in tar.getmembers():
            (folder / Path(m.name).name).write_bytes(tar.extractfile(m).read())
    again = cifar10.load(folder.parent, tmp_path / "cache2", allow_download=False)
    assert torch.equal(again.x_train, data.x_train)


# ----- bad input -------------------------------------------------------------------------------


def test_missing_data_names_what_is_expected(tmp_path):
    with pytest.raises(DataError, match="cifar10-jpeg.tar.gz"):
        cifar10.load(tmp_path, tmp_path / "cache", allow_download=False)


def test_corrupt_archive_names_the_file(tmp_path):
    bad = tmp_path / "cifar10-jpeg.tar.gz"
    good = make_jpeg_tar(tmp_path / "x.tar.gz", image_files())
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # truncated
    with pytest.raises(DataError, match="cifar10-jpeg.tar.gz"):
        cifar10.load(tmp_path, tmp_path / "cache", allow_download=False)


def test_wrong_class_count(tmp_path):
    make_jpeg_tar(tmp_path / "cifar10-jpeg.tar.gz", image_files(classes=CLASSES[:9]))
    with pytest.raises(DataError, match=r"9 classes, expected 10.*truck"):
        cifar10.load(tmp_path, tmp_path / "cache", allow_download=False)


def test_unknown_class_folder_and_wrong_image_size(tmp_path):
    files = list(image_files()) + [("train/unicorn/0000.jpg", _jpeg(_image(0, 0)))]
    make_jpeg_tar(tmp_path / "cifar10-jpeg.tar.gz", files)
    with pytest.raises(DataError, match="unicorn"):
        cifar10.load(tmp_path, tmp_path / "cache", allow_download=False)
    big = _jpeg(np.zeros((64, 64, 3), dtype=np.uint8))
    make_jpeg_tar(tmp_path / "cifar10-jpeg.tar.gz", list(image_files()) + [("test/cat/9999.jpg", big)])
    with pytest.raises(DataError, match="64x64, expected 32x32"):
        cifar10.load(tmp_path, tmp_path / "cache2", allow_download=False)


@pytest.mark.parametrize("evil", ["../escape.jpg", "/etc/evil.jpg", "train/../../x.jpg"])
def test_unsafe_member_paths_are_refused(tmp_path, evil):
    make_jpeg_tar(tmp_path / "cifar10-jpeg.tar.gz", [(evil, b"x"), *image_files()])
    with pytest.raises(DataError, match="unsafe member"):
        cifar10.load(tmp_path, tmp_path / "cache", allow_download=False)


def test_binary_with_broken_record_size(tmp_path):
    with tarfile.open(tmp_path / "cifar-10-binary.tar.gz", "w:gz") as tar:
        for i in range(1, 6):
            _add(tar, f"cifar-10-batches-bin/data_batch_{i}.bin", binary_records(10, i))
        _add(tar, "cifar-10-batches-bin/test_batch.bin", binary_records(20)[:-5])
    with pytest.raises(DataError, match="test_batch.bin.*3073-byte"):
        cifar10.load(tmp_path, tmp_path / "cache", allow_download=False)


# ----- download from a loopback server ---------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 at a free port; yields the base URL."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_checks_md5_then_loads(tmp_path, server):
    www, base = server
    archive = make_binary_tar(www / "cifar-10-binary.tar.gz")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    root, cache = tmp_path / "empty", tmp_path / "cache"
    root.mkdir()
    with pytest.raises(DataError, match="md5"):
        cifar10.load(root, cache, url=f"{base}/cifar-10-binary.tar.gz", md5="0" * 32)
    assert not (cache / "downloads" / "cifar-10-binary.tar.gz").exists()
    assert not list((cache / "downloads").glob("*.part"))  # nothing half-written is kept
    data = cifar10.load(root, cache, url=f"{base}/cifar-10-binary.tar.gz", md5=md5)
    assert data.x_train.shape == (50, 3, 32, 32)
    assert (cache / "downloads" / "cifar-10-binary.tar.gz").read_bytes() == archive.read_bytes()


def test_download_failure_says_both_what_is_missing_and_why(tmp_path, server):
    _, base = server
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DataError, match=r"cifar10 not found.*cannot download .*404"):
        cifar10.load(root, tmp_path / "cache", url=f"{base}/nothing-here.tar.gz", md5="0" * 32)


# ----- split and augmentation ------------------------------------------------------------------


def test_split_is_fixed_and_disjoint():
    n = 100
    data = cifar10.Cifar10(
        torch.arange(n).view(n, 1, 1, 1).expand(n, 3, 32, 32).to(torch.uint8),
        torch.arange(n) % 10,
        torch.zeros(0, 3, 32, 32, dtype=torch.uint8),
        torch.zeros(0, dtype=torch.long),
        "test",
    )
    train, val = cifar10.train_val_split(data, 10, seed=0)
    train2, val2 = cifar10.train_val_split(data, 10, seed=0)
    ids_train, ids_val = set(train.x[:, 0, 0, 0].tolist()), set(val.x[:, 0, 0, 0].tolist())
    assert len(train.y) == 90 and len(val.y) == 10 and not ids_train & ids_val
    assert len(ids_train | ids_val) == n
    assert torch.equal(val.x, val2.x)
    assert not torch.equal(val.x, cifar10.train_val_split(data, 10, seed=1)[1].x)
    with pytest.raises(DataError):
        cifar10.train_val_split(data, 100, seed=0)


def test_random_crop_is_a_window_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 255, (16, 3, 8, 8), dtype=torch.uint8)
    out = augment.random_crop(x, 2, g)
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(16):
        match = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(padded[i, :, dy : dy + 8, dx : dx + 8], out[i])
        ]
        assert match, f"image {i} is not a window of its padded image"
        offsets.add(match[0])
    assert len(offsets) > 3  # offsets differ between images
    assert torch.equal(augment.random_crop(x, 0, g), x)


def test_random_flip_mirrors_some_images_only():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 4, 4)
    out = augment.random_flip(x, 0.5, g)
    flipped = torch.tensor([torch.equal(out[i], x[i].flip(2)) for i in range(64)])
    kept = torch.tensor([torch.equal(out[i], x[i]) for i in range(64)])
    assert bool((flipped | kept).all()) and 10 < int(flipped.sum()) < 54

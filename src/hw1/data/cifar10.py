"""CIFAR-10 as in-memory uint8 tensors, from any of the accepted layouts.

Accepted under the data root (see hw1.data.sources.locate), in this order:

    cifar10-jpeg.tar.gz        train/<class>/*.jpg, test/<class>/*.jpg   (read in one streaming pass)
    cifar10/                   the same layout unpacked
    cifar-10-binary.tar.gz     the official binary version: data_batch_{1..5}.bin, test_batch.bin
    cifar-10-batches-bin/      the same unpacked

When none is present, the official binary archive is downloaded (md5-checked) into the cache.
Nothing is ever unpickled: the binary format is 1 label byte + 3072 pixel bytes (CHW) per record.

Decoding happens once; the uint8 arrays are cached as .npy under <cache>/cifar10/<source name>/,
one copy per source, decoded again when the source's path, size or modification time changes.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hw1.data.sources import decoded_folder, locate, mark_decoded
from hw1.data.tarsafe import cannot_decode, iter_files
from hw1.errors import DataError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
BINARY_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
BINARY_TEST = "test_batch.bin"
RECORD = 1 + 3 * 32 * 32
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class Cifar10:
    x_train: torch.Tensor  # uint8 [N, 3, 32, 32]
    y_train: torch.Tensor  # int64 [N]
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str  # which file or folder the images came from


@dataclass
class Split:
    x: torch.Tensor  # uint8 [N, 3, 32, 32]
    y: torch.Tensor  # int64 [N]


def train_val_split(data: Cifar10, n_val: int, seed: int) -> tuple[Split, Split]:
    """A fixed random split of the training set (the same for a given seed on every machine)."""
    n = len(data.y_train)
    if not 0 < n_val < n:
        raise DataError(f"cannot hold out {n_val} validation images from {n} training images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, train = order[:n_val], order[n_val:]
    return Split(data.x_train[train], data.y_train[train]), Split(data.x_train[val], data.y_train[val])


def synthetic(n_train: int, n_test: int, seed: int) -> Cifar10:
    """Learnable stand-in for CIFAR-10: each class is a fixed coarse colour pattern plus noise."""
    g = torch.Generator().manual_seed(seed)
    patterns = (
        torch.nn.functional.interpolate(torch.rand(10, 3, 4, 4, generator=g), size=32, mode="nearest") * 160
    )

    def make(n):
        y = torch.arange(n) % 10
        x = patterns[y] + torch.rand(n, 3, 32, 32, generator=g) * 95
        return x.clamp(0, 255).to(torch.uint8), y

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    return Cifar10(x_train, y_train, x_test, y_test, source="synthetic")


# ----- decoding each layout ---------------------------------------------------------------------


def _decode_image(name: str, payload: bytes, where: Path) -> np.ndarray:
    """The RGB pixels; a DataError naming the archive (or folder) and the member when PIL refuses them,
    truncated data included (ImageFile.LOAD_TRUNCATED_IMAGES is never set here)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(payload)) as image:
            image.load()
            array = np.asarray(image.convert("RGB"))
    except Exception as error:  # noqa: BLE001  PIL raises many kinds (OSError, SyntaxError, ...) for bad files
        raise cannot_decode(f"{where}: {name}", error) from None
    if array.shape != (32, 32, 3):
        raise DataError(f"{where}: image {name} is {array.shape[1]}x{array.shape[0]}, expected 32x32")
    return array


def _class_of(name: str, where: Path) -> tuple[str, int] | None:
    """('train'|'test', class id) for 'train/<class>/<file>'; None for other files."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] not in ("train", "test") or not parts[2].lower().endswith(IMAGE_SUFFIXES):
        return None
    if parts[1] not in CLASSES:
        raise DataError(
            f"{where}: unknown class folder {parts[0]}/{parts[1]}/ "
            f"(expected the 10 CIFAR-10 classes: {', '.join(CLASSES)})"
        )
    return parts[0], CLASSES.index(parts[1])


def _stack(images: dict, labels: dict, where: Path) -> dict[str, np.ndarray]:
    out = {}
    for split in ("train", "test"):
        if not images[split]:
            raise DataError(
                f"{where}: no images under {split}/<class>/ (expected train/ and test/ "
                f"with one folder per class)"
            )
        found = sorted(set(labels[split]))
        if len(found) != len(CLASSES):
            missing = [CLASSES[i] for i in range(len(CLASSES)) if i not in found]
            raise DataError(
                f"{where}: {split}/ holds {len(found)} classes, expected 10 (missing: {', '.join(missing)})"
            )
        out[f"x_{split}"] = np.stack(images[split]).transpose(0, 3, 1, 2).copy()  # NHWC -> NCHW
        out[f"y_{split}"] = np.asarray(labels[split], dtype=np.int64)
    return out


def _sorted_pairs(pairs):
    """Sort (name, ...) by name so that every layout yields the same order."""
    return sorted(pairs, key=lambda p: p[0])


def _decode_image_archive(archive: Path) -> dict[str, np.ndarray]:
    found = []
    for name, payload in iter_files(archive, lambda n: _class_of(n, archive) is not None):
        split, label = _class_of(name, archive)
        found.append((name, split, label, _decode_image(name, payload, archive)))
    return _collect(found, archive)


def _decode_image_folder(folder: Path) -> dict[str, np.ndarray]:
    found = []
    for path in folder.rglob("*"):
        name = path.relative_to(folder).as_posix()
        where = _class_of(name, folder) if path.is_file() else None
        if where is not None:
            found.append((name, where[0], where[1], _decode_image(name, path.read_bytes(), folder)))
    return _collect(found, folder)


def _collect(found: list, where: Path) -> dict[str, np.ndarray]:
    images, labels = {"train": [], "test": []}, {"train": [], "test": []}
    for _, split, label, array in _sorted_pairs(found):
        images[split].append(array)
        labels[split].append(label)
    return _stack(images, labels, where)


def _parse_binary(name: str, payload: bytes, where: Path) -> tuple[np.ndarray, np.ndarray]:
    if len(payload) == 0 or len(payload) % RECORD:
        raise DataError(
            f"{where}: {name} has {len(payload)} bytes, not a whole number of {RECORD}-byte CIFAR-10 records"
        )
    records = np.frombuffer(payload, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CLASSES):
        raise DataError(f"{where}: {name} holds label {labels.max()}, expected 0..9")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def _binary_from_parts(parts: dict[str, bytes], where: Path) -> dict[str, np.ndarray]:
    missing = [n for n in (*BINARY_TRAIN, BINARY_TEST) if n not in parts]
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)} (expected the CIFAR-10 binary version)")
    train = [_parse_binary(n, parts[n], where) for n in BINARY_TRAIN]
    x_test, y_test = _parse_binary(BINARY_TEST, parts[BINARY_TEST], where)
    out = {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
    }
    for split in ("train", "test"):
        if len(np.unique(out[f"y_{split}"])) != len(CLASSES):
            raise DataError(
                f"{where}: the {split} records hold {len(np.unique(out[f'y_{split}']))} classes, expected 10"
            )
    return out


def _decode_binary_archive(archive: Path) -> dict[str, np.ndarray]:
    wanted = {*BINARY_TRAIN, BINARY_TEST}
    parts = {
        name.rsplit("/", 1)[-1]: payload
        for name, payload in iter_files(archive, lambda n: n.rsplit("/", 1)[-1] in wanted)
    }
    return _binary_from_parts(parts, archive)


def _decode_binary_folder(folder: Path) -> dict[str, np.ndarray]:
    parts = {p.name: p.read_bytes() for p in folder.iterdir() if p.name in {*BINARY_TRAIN, BINARY_TEST}}
    return _binary_from_parts(parts, folder)


def decode(source: Path) -> dict[str, np.ndarray]:
    """Decode one accepted layout into {x_train, y_train, x_test, y_test} numpy arrays."""
    name = source.name
    if source.is_dir():
        if any(source.glob("*.bin")):
            return _decode_binary_folder(source)
        return _decode_image_folder(source)
    if "binary" in name:
        return _decode_binary_archive(source)
    return _decode_image_archive(source)


# ----- download -------------------------------------------------------------------------------


def download(url: str, md5: str, target: Path, timeout: float = 30.0) -> Path:
    """Fetch url into target (atomically) and check its md5; DataError when offline or corrupt."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5()
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != md5:
            raise DataError(
                f"download of {url} has md5 {digest.hexdigest()}, expected {md5} "
                f"(corrupt or changed file; nothing was kept)"
            )
        os.replace(tmp, target)
        return target
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise DataError(f"cannot download {url} ({error})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ----- entry point ----------------------------------------------------------------------------


def _cache_key(source: Path) -> str:
    st = source.stat()
    if source.is_dir():
        st_size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    else:
        st_size = st.st_size
    return f"{source.resolve()}|{st_size}|{st.st_mtime_ns}|v1"


def load(
    data_root: Path, cache_dir: Path, *, url: str = URL, md5: str = MD5, allow_download: bool = True
) -> Cifar10:
    """CIFAR-10 from data_root (decoded once, then read from the cache)."""
    try:
        source = locate("cifar10", Path(data_root))
    except DataError as missing:
        downloaded = Path(cache_dir) / "downloads" / "cifar-10-binary.tar.gz"
        if not downloaded.is_file():
            if not allow_download:
                raise
            try:
                download(url, md5, downloaded)
            except DataError as failed:
                raise DataError(f"{missing}; and {failed}") from None
        source = downloaded

    stamp = _cache_key(source)
    folder, valid = decoded_folder(cache_dir, "cifar10", source, stamp)
    names = ("x_train", "y_train", "x_test", "y_test")
    if valid and all((folder / f"{n}.npy").is_file() for n in names):
        try:
            arrays = {n: np.load(folder / f"{n}.npy") for n in names}
        except (OSError, ValueError):
            arrays = None  # a damaged cache is rebuilt
    else:
        arrays = None
    if arrays is None:
        arrays = decode(source)
        tmp = Path(tempfile.mkdtemp(dir=Path(cache_dir).mkdir(parents=True, exist_ok=True) or cache_dir))
        for n in names:
            np.save(tmp / f"{n}.npy", arrays[n])
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, folder)
        mark_decoded(folder, stamp)
    t = {n: torch.from_numpy(np.ascontiguousarray(a)) for n, a in arrays.items()}
    return Cifar10(t["x_train"], t["y_train"], t["x_test"], t["y_test"], source=source.name)

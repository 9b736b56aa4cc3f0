"""CamVid loading (archive and folder), its clear errors, the .npy cache, and batched augmentation."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hw1.data import camvid
from hw1.data.camvid import IGNORE_INDEX, augment, load_camvid
from hw1.errors import DataError

H, W = 6, 8


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _files(seed: int = 0) -> dict[str, bytes]:
    """train: 2 pairs, val: 1, test: 1; images lossless PNG so that pixel values can be checked."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, count in (("train", 2), ("val", 1), ("test", 1)):
        for i in range(count):
            image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            mask = rng.integers(0, 12, (H, W), dtype=np.uint8)
            files[f"{split}/img{i}.png"] = _png(image)
            files[f"{split}annot/img{i}.png"] = _png(mask)
    files["train.txt"] = b"train/img0.png trainannot/img0.png\n"
    return files


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_archive_and_folder_give_the_same_tensors(tmp_path):
    files = _files()
    a = load_camvid(_tar(tmp_path / "camvid-segnet.tar.gz", files))
    b = load_camvid(_folder(tmp_path / "camvid", files))
    assert [len(a[s]) for s in ("train", "val", "test")] == [2, 1, 1]
    assert a["train"].images.shape == (2, 3, H, W) and a["train"].images.dtype == torch.uint8
    assert a["train"].masks.shape == (2, H, W) and a["train"].masks.dtype == torch.uint8
    expected = np.array(Image.open(io.BytesIO(files["train/img1.png"])))
    assert torch.equal(a["train"].images[1].permute(1, 2, 0), torch.from_numpy(expected))
    for s in ("train", "val", "test"):
        assert torch.equal(a[s].images, b[s].images) and torch.equal(a[s].masks, b[s].masks)
        assert a[s].names == b[s].names


def test_decoded_once_then_read_from_npy_cache(tmp_path, monkeypatch):
    archive = _tar(tmp_path / "camvid-segnet.tar.gz", _files())
    first = load_camvid(archive, tmp_path / "cache")
    assert len(list((tmp_path / "cache" / "camvid").rglob("*.npy"))) == 6

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(camvid, "_read_raw", no_decoding)
    second = load_camvid(archive, tmp_path / "cache")
    assert torch.equal(first["test"].images, second["test"].images)
    assert torch.equal(first["train"].masks, second["train"].masks)


def _error(tmp_path, files) -> str:
    with pytest.raises(DataError) as info:
        load_camvid(_tar(tmp_path / "camvid-segnet.tar.gz", files))
    return str(info.value)


def test_image_without_mask_is_named(tmp_path):
    files = _files()
    del files["valannot/img0.png"]
    message = _error(tmp_path, files)
    assert "val/img0.png" in message and "without mask" in message


def test_size_mismatch_is_named(tmp_path):
    files = _files()
    files["testannot/img0.png"] = _png(np.zeros((H + 1, W), dtype=np.uint8))
    message = _error(tmp_path, files)
    assert "testannot/img0.png" in message and "does not match" in message


def test_unknown_class_id_is_named(tmp_path):
    files = _files()
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[2, 3] = 12
    files["trainannot/img1.png"] = _png(mask)
    message = _error(tmp_path, files)
    assert "trainannot/img1.png" in message and "12" in message


def test_corrupt_image_is_named(tmp_path):
    files = _files()
    files["train/img0.png"] = b"not an image at all"
    assert "train/img0.png" in _error(tmp_path, files)


def test_missing_truncated_and_unsafe_archives(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_camvid(tmp_path / "nothing.tar.gz")
    good = _tar(tmp_path / "good.tar.gz", _files()).read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="truncated.tar.gz"):
        load_camvid(truncated)
    files = _files()
    files["../evil/train/x.png"] = files["train/img0.png"]
    with pytest.raises(DataError, match="unsafe"):
        load_camvid(_tar(tmp_path / "evil.tar.gz", files))


# ----- augmentation ----------------------------------------------------------------------------


def _ramp(batch: int = 3, h: int = 12, w: int = 16):
    cols = torch.arange(w).view(1, 1, w).expand(batch, h, w)
    masks = (cols * 11 // w).to(torch.uint8)  # ids 0..10, left to right
    images = (cols * 16).clamp(max=255).to(torch.uint8).unsqueeze(1).expand(batch, 3, h, w).contiguous()
    return images, masks


def test_identity_augmentation_keeps_masks():
    images, masks = _ramp()
    x, y = augment(images, masks, (12, 16), 1.0, (1.0, 1.0), flip=False)
    assert x.shape == (3, 3, 12, 16) and y.shape == (3, 12, 16) and y.dtype == torch.long
    assert torch.equal(y, masks.long())
    assert torch.allclose(x, camvid.normalize(images), atol=1e-4)


def test_flip_mirrors_image_and_mask_together():
    images, masks = _ramp(batch=64)
    x, y = augment(
        images, masks, (12, 16), 1.0, (1.0, 1.0), flip=True, generator=torch.Generator().manual_seed(0)
    )
    mirrored = [torch.equal(y[i], masks[i].long().flip(-1)) for i in range(64)]
    kept = [torch.equal(y[i], masks[i].long()) for i in range(64)]
    assert all(m or k for m, k in zip(mirrored, kept)) and 10 < sum(mirrored) < 54
    for i in range(64):  # the image follows its mask
        expected = camvid.normalize(images[i : i + 1])[0]
        assert torch.allclose(x[i], expected.flip(-1) if mirrored[i] else expected, atol=1e-4)


def test_zoom_out_pads_with_ignore_and_zoom_in_crops():
    images, masks = _ramp(batch=2)
    _, y = augment(images, masks, (12, 16), 1.0, (0.5, 0.5), flip=False)
    assert (y == IGNORE_INDEX).float().mean() == pytest.approx(0.75, abs=0.05)  # image fills a quarter
    _, y = augment(
        images, masks, (6, 8), 1.0, (1.0, 1.0), flip=False, generator=torch.Generator().manual_seed(1)
    )
    assert not (y == IGNORE_INDEX).any()
    # a crop keeps the column ramp: ids are non-decreasing left to right and cover a contiguous part
    assert bool((y[:, :, 1:] >= y[:, :, :-1]).all())


def test_base_scale_resizes_to_the_evaluation_size():
    images, masks = _ramp(batch=1, h=24, w=32)
    x, y = augment(images, masks, (12, 16), 0.5, (1.0, 1.0), flip=False)
    assert y.shape == (1, 12, 16) and int(y.min()) == 0 and int(y.max()) == 10

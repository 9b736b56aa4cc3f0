"""CamVid in the SegNet split: decoding, caching, and batched augmentation on tensors.

Layout (archive camvid-segnet.tar.gz or the same tree unpacked in camvid/):

    train/<stem>.jpg  trainannot/<stem>.png      367 pairs
    val/<stem>.jpg    valannot/<stem>.png        101 pairs
    test/<stem>.jpg   testannot/<stem>.png       233 pairs

Images are 480x360 RGB; masks are 8-bit class ids 0..10, with 11 = "unlabelled" (ignored in the
loss and the metrics). The archive is read in one sequential pass, decoded once, and the uint8
arrays are cached as .npy under <cache_dir>/camvid/<source name>/, one copy per source, decoded
again when the source's path, size or modification time changes. Everything after loading works on whole batches of tensors.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hw1.data.sources import decoded_folder, mark_decoded
from hw1.data.tarsafe import cannot_decode, iter_files
from hw1.errors import DataError

SPLITS = ("train", "val", "test")
NUM_CLASSES = 11
IGNORE_INDEX = 11
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

# (key in text/glossary.yaml, standard SegNet/CamVid colour) for ids 0..10, then "unlabelled".
CLASSES = [
    ("sky", (128, 128, 128)),
    ("building", (128, 0, 0)),
    ("pole", (192, 192, 128)),
    ("road", (128, 64, 128)),
    ("pavement", (60, 40, 222)),
    ("tree", (128, 128, 0)),
    ("sign_symbol", (192, 128, 128)),
    ("fence", (64, 64, 128)),
    ("car", (64, 0, 128)),
    ("pedestrian", (64, 64, 0)),
    ("bicyclist", (0, 128, 192)),
]
UNLABELLED = ("unlabelled", (0, 0, 0))
CLASS_NAMES = [name for name, _ in CLASSES]
# [12, 3] uint8: row k is the colour of class id k (row 11 = unlabelled, black)
PALETTE = torch.tensor([rgb for _, rgb in CLASSES] + [UNLABELLED[1]], dtype=torch.uint8)


@dataclass
class Split:
    images: torch.Tensor  # uint8 [N, 3, H, W]
    masks: torch.Tensor  # uint8 [N, H, W], ids 0..11
    names: list[str]  # file stems, in the same order

    def __len__(self) -> int:
        return len(self.names)


# ----- reading -------------------------------------------------------------------------------


def _classify(name: str) -> tuple[str, str, str] | None:
    """'train/x.jpg' -> ('train', 'image', 'x'); 'trainannot/x.png' -> ('train', 'mask', 'x')."""
    parts = name.split("/")
    if len(parts) < 2:
        return None
    folder, file = parts[-2], parts[-1]
    stem, ext = os.path.splitext(file)
    if ext.lower() not in IMAGE_EXTENSIONS:
        return None
    for split in SPLITS:
        if folder == split:
            return split, "image", stem
        if folder == split + "annot" and ext.lower() == ".png":
            return split, "mask", stem
    return None


def _decode(source: str, data: bytes, mask: bool) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if mask:
                if im.mode not in ("L", "P", "I;16", "I"):
                    raise DataError(
                        f"{source}: a mask must be a single-channel image of class ids, got mode {im.mode}"
                    )
                array = np.asarray(im)
            else:
                array = np.asarray(im.convert("RGB"))
    except DataError:
        raise
    except Exception as error:  # noqa: BLE001  PIL raises many kinds for corrupt files
        raise cannot_decode(source, error) from None
    return array


def _read_raw(source: Path) -> dict[str, dict[str, dict[str, tuple[str, bytes]]]]:
    """{split: {'image'|'mask': {stem: (where, bytes)}}} from an archive or a folder."""
    found = {s: {"image": {}, "mask": {}} for s in SPLITS}
    if source.is_file():
        members = iter_files(source, lambda n: _classify(n) is not None)
        for name, data in members:
            split, kind, stem = _classify(name)  # type: ignore[misc]
            found[split][kind][stem] = (f"{source}: {name}", data)
    else:
        for split in SPLITS:
            for kind, folder in (("image", split), ("mask", split + "annot")):
                directory = source / folder
                if not directory.is_dir():
                    continue
                for path in sorted(directory.iterdir()):
                    if path.is_file() and _classify(f"{folder}/{path.name}") is not None:
                        found[split][kind][path.stem] = (str(path), path.read_bytes())
    return found


def _decode_split(
    source: Path, split: str, raw: dict[str, dict[str, tuple[str, bytes]]]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    images, masks = raw["image"], raw["mask"]
    if not images:
        raise DataError(
            f"{source}: no images in {split}/ (expected {split}/*.jpg with masks in {split}annot/*.png)"
        )
    for stem, (where, _) in images.items():
        if stem not in masks:
            raise DataError(f"{where}: image without mask (expected {split}annot/{stem}.png)")
    for stem, (where, _) in masks.items():
        if stem not in images:
            raise DataError(f"{where}: mask without image (expected {split}/{stem}.jpg)")
    names = sorted(images)
    image_arrays, mask_arrays = [], []
    for stem in names:
        image_where, image_bytes = images[stem]
        mask_where, mask_bytes = masks[stem]
        image = _decode(image_where, image_bytes, mask=False)
        mask = _decode(mask_where, mask_bytes, mask=True)
        if image.shape[:2] != mask.shape:
            raise DataError(
                f"{mask_where}: mask size {mask.shape[1]}x{mask.shape[0]} does not match its image "
                f"{image_where} ({image.shape[1]}x{image.shape[0]})"
            )
        if image_arrays and image.shape != image_arrays[0].shape:
            raise DataError(
                f"{image_where}: size {image.shape[1]}x{image.shape[0]} differs from the rest of "
                f"{split}/ ({image_arrays[0].shape[1]}x{image_arrays[0].shape[0]})"
            )
        top = int(mask.max())
        if top > IGNORE_INDEX:
            raise DataError(
                f"{mask_where}: unknown class id {top} (expected 0..{NUM_CLASSES - 1}, "
                f"{IGNORE_INDEX} = unlabelled)"
            )
        image_arrays.append(image)
        mask_arrays.append(mask.astype(np.uint8))
    return np.stack(image_arrays), np.stack(mask_arrays), names


def _cache_key(source: Path) -> str:
    st = source.stat()
    if source.is_file():
        text = f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    else:  # a folder: every file's relative path, size and mtime
        lines = []
        for root, dirs, files in os.walk(source):
            dirs.sort()
            for f in sorted(files):
                p = Path(root, f)
                s = p.stat()
                lines.append(f"{p.relative_to(source)}|{s.st_size}|{s.st_mtime_ns}")
        text = f"{source.resolve()}\n" + "\n".join(lines)
    return text


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    tmp.replace(path)


def load_camvid(source: Path, cache_dir: Path | None = None) -> dict[str, Split]:
    """All three splits as uint8 tensors; decoded once, then read from the .npy cache."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"CamVid source {source} does not exist")
    stamp = _cache_key(source)
    cache, valid = (
        decoded_folder(cache_dir, "camvid", source, stamp) if cache_dir is not None else (None, False)
    )
    if cache is not None and valid and (cache / "names.json").is_file():
        names = json.loads((cache / "names.json").read_text())
        try:
            return {
                s: Split(
                    torch.from_numpy(np.load(cache / f"{s}_images.npy")).permute(0, 3, 1, 2).contiguous(),
                    torch.from_numpy(np.load(cache / f"{s}_masks.npy")),
                    names[s],
                )
                for s in SPLITS
            }
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    raw = _read_raw(source)
    decoded = {s: _decode_split(source, s, raw[s]) for s in SPLITS}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for s, (images, masks, _) in decoded.items():
            _save_atomic(cache / f"{s}_images.npy", images)
            _save_atomic(cache / f"{s}_masks.npy", masks)
        (cache / "names.json").write_text(json.dumps({s: d[2] for s, d in decoded.items()}))
        mark_decoded(cache, stamp)
    return {
        s: Split(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(masks), names)
        for s, (images, masks, names) in decoded.items()
    }


def synthetic_camvid(n: dict[str, int], size: tuple[int, int] = (48, 64), seed: int = 0) -> dict[str, Split]:
    """Tiny learnable scenes for the smoke profile: sky on top, road below, a 'car' box, some noise."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    out = {}
    for split, count in n.items():
        masks = torch.full((count, h, w), 3, dtype=torch.uint8)  # road
        horizon = torch.randint(h // 4, h // 2, (count, 1, 1), generator=g)
        rows = torch.arange(h).view(1, h, 1)
        masks = torch.where(rows < horizon, torch.tensor(0, dtype=torch.uint8), masks)  # sky
        x0 = torch.randint(0, w // 2, (count, 1, 1), generator=g)
        cols = torch.arange(w).view(1, 1, w)
        car = (cols >= x0) & (cols < x0 + w // 4) & (rows >= h // 2) & (rows < 3 * h // 4)
        masks = torch.where(car, torch.tensor(8, dtype=torch.uint8), masks)
        masks[:, -2:, :] = IGNORE_INDEX
        colours = PALETTE[masks.long()].permute(0, 3, 1, 2).float()
        noise = torch.randn(colours.shape, generator=g) * 20
        images = (colours + noise).clamp(0, 255).to(torch.uint8)
        out[split] = Split(images, masks, [f"{split}_{i:03d}" for i in range(count)])
    return out


# ----- batches -------------------------------------------------------------------------------

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8/float [B, 3, H, W] in 0..255 -> float, ImageNet mean/std."""
    return (images.float() - MEAN.to(images.device)) / STD.to(images.device)


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> normalised float [B, 3, h, w] (bilinear, antialiased when shrinking)."""
    x = normalize(images)
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def augment(
    images: torch.Tensor,
    masks: torch.Tensor,
    size: tuple[int, int],
    base_scale: float,
    scale_range: tuple[float, float],
    flip: bool,
    generator: torch.Generator | None = None,
    jitter: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random scale, crop and horizontal flip of a whole batch with one grid_sample.

    images uint8 [B, 3, H, W], masks uint8 [B, H, W] -> normalised float [B, 3, h, w], long [B, h, w].
    The image is first seen at base_scale (the evaluation resolution), then zoomed by s drawn
    log-uniformly from scale_range; an (h, w) window is cut at a random place. Where the window
    leaves the image (s < 1), images hold the mean colour (0 after normalisation) and masks
    the ignored id.
    """
    B, _, H, W = images.shape
    h, w = size
    device = images.device
    lo, hi = (torch.tensor(v).log() for v in scale_range)
    s = (lo + (hi - lo) * torch.rand(B, generator=generator)).exp()
    # fraction of the source width/height that the window covers (normalised coords span 2)
    fx = w / (W * base_scale * s)
    fy = h / (H * base_scale * s)
    cx = (torch.rand(B, generator=generator) * 2 - 1) * (1 - fx).abs()
    cy = (torch.rand(B, generator=generator) * 2 - 1) * (1 - fy).abs()
    sign = torch.where(torch.rand(B, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(B)
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = fx * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = fy, cy
    grid = F.affine_grid(theta.to(device), [B, 1, h, w], align_corners=False)  # [B, h, w, 2]
    x = F.grid_sample(normalize(images), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # masks: sample id+1 with zero padding, so that outside the image becomes -1 -> ignored
    m = (
        F.grid_sample(
            masks.unsqueeze(1).float() + 1, grid, mode="nearest", padding_mode="zeros", align_corners=False
        )
        .squeeze(1)
        .long()
        - 1
    )
    m = torch.where(m < 0, torch.full_like(m, IGNORE_INDEX), m)
    if jitter > 0:  # brightness and contrast, one draw per image
        b = (torch.rand(B, 1, 1, 1, generator=generator) * 2 - 1) * jitter
        c = 1 + (torch.rand(B, 1, 1, 1, generator=generator) * 2 - 1) * jitter
        x = x * c.to(device) + b.to(device) * 2
    return x, m


def colorize(masks: torch.Tensor) -> torch.Tensor:
    """long/uint8 [..., H, W] class ids -> uint8 [..., H, W, 3] palette colours."""
    return PALETTE.to(masks.device)[masks.long().clamp(0, IGNORE_INDEX)]


def overlay(images: torch.Tensor, masks: torch.Tensor, alpha: float = 0.55) -> torch.Tensor:
    """uint8 [B, 3, H, W] + ids [B, H, W] -> uint8 [B, H, W, 3]; unlabelled pixels stay as the image."""
    rgb = images.permute(0, 2, 3, 1).float()
    colours = colorize(masks).float()
    mixed = (1 - alpha) * rgb + alpha * colours
    keep = (masks == IGNORE_INDEX).unsqueeze(-1)
    return torch.where(keep, rgb, mixed).round().clamp(0, 255).to(torch.uint8)

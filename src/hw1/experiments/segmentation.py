"""Part 2-2: semantic segmentation of CamVid (SegNet split, 11 classes) with SegFormer and BEiT.

Each model is trained for a wall-clock budget (cpu profile: from scratch at reduced resolution;
gpu profile: fine-tuned from pretrained checkpoints) with class-weighted cross-entropy, batched
random scale/crop/flip augmentation, AdamW and a warm-up + polynomial learning-rate schedule over
the budget. Evaluation runs at the model's input resolution, upsamples the logits to the full
480x360 and accumulates one confusion matrix per split (pixels labelled "unlabelled" are ignored).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from hw1.data.camvid import (CLASS_NAMES, CLASSES, IGNORE_INDEX, NUM_CLASSES, PALETTE, Split, augment,
                             colorize, load_camvid, overlay, resize_images, synthetic_camvid)
from hw1.data.sources import locate
from hw1.errors import ConfigError
from hw1.experiments.base import Context
from hw1.metrics import confusion_matrix, segmentation_report
from hw1.models.segmentation import build_segmentation_model, count_parameters, segmentation_logits

DISPLAY = {"segformer": "SegFormer", "beit": "BEiT"}


@dataclass
class ModelSpec:
    arch: str                         # segformer | beit
    config: dict = field(default_factory=dict)   # transformers config values (from scratch)
    pretrained: str | None = None     # hub id or local folder; overrides config
    train_size: list[int] = field(default_factory=lambda: [180, 240])   # crop [h, w]
    early_train_size: list[int] | None = None   # smaller crops (same zoom, less context, faster steps)
    early_until: float = 0.0          # until this fraction of the run, then train_size
    eval_size: list[int] = field(default_factory=lambda: [180, 240])    # full image resized to [h, w]
    scale_range: list[float] = field(default_factory=lambda: [1.0, 1.0])  # zoom relative to eval_size
    flip: bool = True
    jitter: float = 0.0               # brightness/contrast jitter (normalised units)
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05              # fraction of the budget
    poly_power: float = 1.0
    budget_s: float = 600.0           # training wall-clock budget (evaluation not counted)
    max_epochs: int = 1000
    max_steps: int = 0                # > 0: also stop after this many steps (the schedule follows
                                      # whichever of time and steps runs out first)
    val_every: int = 2                # epochs between validation passes
    loss_resolution: str = "input"    # input: logits upsampled to the crop; logits: labels sampled
                                      # down to the logits (SegFormer: 1/4; 16x fewer loss pixels)
    eval_scales: list[float] = field(default_factory=lambda: [1.0])  # test-time input sizes, relative
                                      # to eval_size; their softmax outputs are averaged


@dataclass
class Config:
    models: dict                      # name -> ModelSpec fields
    synthetic: bool = False           # smoke profile: tiny generated scenes instead of CamVid
    synthetic_sizes: dict = field(default_factory=lambda: {"train": 16, "val": 8, "test": 8})
    class_weighting: str = "median_frequency"   # none | median_frequency
    weight_power: float = 1.0         # weights ** power (0.5 softens them)
    weight_clip: float = 10.0
    bf16: bool = True                 # autocast on CPU/GPU for the forward pass
    threads: int = 2
    eval_batch_size: int = 16
    flip_test: bool = True            # average the logits of the image and its mirror image
    speed_steps: int = 3              # steps timed for the bf16-vs-fp32 comparison (0: skip)
    n_samples: int = 4                # test images shown in the figures
    sample_seed: int = 0
    sample_width: int = 240           # each shown image is resized to this width

    def __post_init__(self):
        if self.class_weighting not in ("none", "median_frequency"):
            raise ConfigError(f"configs/segmentation.yaml: class_weighting {self.class_weighting!r}: "
                              f"expected none or median_frequency")
        specs = {}
        for name, values in self.models.items():
            try:
                specs[name] = ModelSpec(**values)
            except TypeError as error:
                raise ConfigError(f"configs/segmentation.yaml: models.{name}: {error}") from None
            if specs[name].loss_resolution not in ("input", "logits"):
                raise ConfigError(f"configs/segmentation.yaml: models.{name}.loss_resolution "
                                  f"{specs[name].loss_resolution!r}: expected input or logits")
            early = specs[name].early_train_size
            if early is not None and (len(early) != 2 or any(e <= 0 or e % 8 or e > t for e, t in
                                                              zip(early, specs[name].train_size))):
                raise ConfigError(f"configs/segmentation.yaml: models.{name}.early_train_size {early}: "
                                  f"expected [h, w], multiples of 8, at most train_size {specs[name].train_size}")
            if not 0.0 <= specs[name].early_until <= 1.0:
                raise ConfigError(f"configs/segmentation.yaml: models.{name}.early_until "
                                  f"{specs[name].early_until}: expected a fraction of the run in [0, 1]")
        self.models = specs


# ----- training -------------------------------------------------------------------------------

def class_weights(masks: torch.Tensor, power: float, clip: float) -> torch.Tensor:
    """Median-frequency balancing (Eigen & Fergus): w_c = median(f) / f_c, where f_c is the pixel
    count of class c over the pixels of the images in which c occurs."""
    n = masks.shape[0]
    per_image = torch.bincount((torch.arange(n).view(n, 1) * (IGNORE_INDEX + 1)
                                + masks.reshape(n, -1).long()).reshape(-1),
                               minlength=n * (IGNORE_INDEX + 1)).reshape(n, -1)[:, :NUM_CLASSES].double()
    labelled = per_image.sum(1, keepdim=True)                                   # [n, 1]
    present = per_image > 0
    freq = per_image.sum(0) / (labelled * present).sum(0).clamp(min=1)          # [C]
    seen = freq > 0
    if not bool(seen.any()):
        return torch.ones(NUM_CLASSES)
    w = (freq[seen].median() / freq.clamp(min=1e-12)) ** power                  # absent classes: clipped
    return w.clamp(max=clip).float()


def pixel_loss(logits: torch.Tensor, masks: torch.Tensor, weight: torch.Tensor | None,
               resolution: str) -> torch.Tensor:
    """Class-weighted cross-entropy of logits [B, C, h, w] against masks [B, H, W], unlabelled ignored.

    resolution "input": the logits are upsampled bilinearly to H x W (every labelled pixel counts);
    "logits": the mask is sampled at the centre of each logit's cell instead. On the CPU this skips
    the costliest part of the backward pass (the gradient of a 16x upsampling), at the price of
    supervising thin objects less precisely.
    """
    logits = logits.float()
    if resolution == "logits":
        masks = F.interpolate(masks[:, None].float(), size=logits.shape[-2:], mode="nearest-exact")[:, 0].long()
    else:
        logits = F.interpolate(logits, size=masks.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(logits, masks, weight=weight, ignore_index=IGNORE_INDEX)


def lr_factor(progress: float, warmup: float, power: float) -> float:
    """Linear warm-up over the first `warmup` of training, then (1 - p)^power decay to 0."""
    if progress < warmup:
        return max(progress / warmup, 1e-3)
    return max(1 - (progress - warmup) / max(1 - warmup, 1e-8), 0.0) ** power


def autocast(device: str, enabled: bool):
    return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu",
                          dtype=torch.bfloat16, enabled=enabled)


def scaled_size(size: list[int], scale: float, multiple: int = 8) -> tuple[int, int]:
    """[h, w] * scale, rounded to a multiple of `multiple` (BEiT's patch grid needs whole patches)."""
    return tuple(max(multiple, int(v * scale / multiple + 0.5) * multiple) for v in size)


@torch.no_grad()
def predict(model, images: torch.Tensor, spec: ModelSpec, cfg: Config, device: str,
            out_size: tuple[int, int] | None = None, scales: list[float] | None = None) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> class ids long [N, H, W].

    The image is resized to eval_size * scale for each scale (and mirrored when cfg.flip_test); each
    pass's logits are upsampled to the full size and the softmax probabilities averaged.
    """
    model.eval()
    out_size = out_size or tuple(images.shape[-2:])
    scales = scales or spec.eval_scales
    preds = []
    for i in range(0, len(images), cfg.eval_batch_size):
        batch = images[i:i + cfg.eval_batch_size].to(device)
        probs = 0.0
        for scale in scales:
            x = resize_images(batch, scaled_size(spec.eval_size, scale))
            for flipped in ((False, True) if cfg.flip_test else (False,)):
                with autocast(device, cfg.bf16):
                    logits = segmentation_logits(model, x.flip(-1) if flipped else x).float()
                logits = logits.flip(-1) if flipped else logits
                logits = F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)
                probs = probs + logits.softmax(1)
        preds.append(probs.argmax(1).cpu())
    return torch.cat(preds)


def evaluate(model, split: Split, spec: ModelSpec, cfg: Config, device: str,
             scales: list[float] | None = None) -> tuple[dict, torch.Tensor, float]:
    """Report over the split from one confusion matrix, the confusion matrix, and images/s."""
    start = time.perf_counter()
    confusion = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.long)
    chunk = cfg.eval_batch_size * 4
    for i in range(0, len(split), chunk):
        pred = predict(model, split.images[i:i + chunk], spec, cfg, device, scales=scales)
        confusion += confusion_matrix(pred, split.masks[i:i + chunk], NUM_CLASSES, IGNORE_INDEX)
    seconds = time.perf_counter() - start
    return segmentation_report(confusion), confusion, len(split) / seconds


def precision_speed(spec: ModelSpec, cfg: Config, train_split: Split, device: str, steps: int = 3) -> dict:
    """Training images/s with bf16 autocast and in fp32: two fresh copies of the model take turns on
    the same batches (so that a busy moment of the machine hits both), median step time of each."""
    models, optimizers = {}, {}
    for label in ("bf16", "fp32"):
        torch.manual_seed(0)
        models[label] = build_segmentation_model(spec.arch, NUM_CLASSES, spec.config, None, CLASS_NAMES,
                                                 IGNORE_INDEX).to(device)
        optimizers[label] = torch.optim.AdamW(models[label].parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    times = {"bf16": [], "fp32": []}
    for step in range(steps + 1):   # the first step of each warms up and is not timed
        idx = torch.randint(0, len(train_split), (spec.batch_size,), generator=g)
        x, y = augment(train_split.images[idx], train_split.masks[idx], tuple(spec.train_size),
                       spec.eval_size[0] / train_split.images.shape[-2], tuple(spec.scale_range),
                       spec.flip, g)
        x, y = x.to(device), y.to(device)
        for label in ("bf16", "fp32"):
            t0 = time.perf_counter()
            with autocast(device, label == "bf16"):
                logits = segmentation_logits(models[label], x)
            loss = pixel_loss(logits, y, None, spec.loss_resolution)
            optimizers[label].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[label].step()
            if step > 0:
                times[label].append(time.perf_counter() - t0)
    return {f"{label}_train_images_per_second": spec.batch_size / float(np.median(t)) for label, t in times.items()}


def train(name: str, spec: ModelSpec, data: dict[str, Split], weights: torch.Tensor | None,
          cfg: Config, ctx: Context) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(ctx.seed)
    model = build_segmentation_model(spec.arch, NUM_CLASSES, spec.config, spec.pretrained,
                                     CLASS_NAMES, IGNORE_INDEX).to(ctx.device)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": spec.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=spec.lr)
    generator = torch.Generator().manual_seed(ctx.seed)
    train_split = data["train"]
    n = len(train_split)
    steps_per_epoch = max(n // spec.batch_size, 1)
    weight = weights.to(ctx.device) if weights is not None else None
    history = {"epoch": [], "train_seconds": [], "train_loss": [], "val_miou": [], "val_pixel_accuracy": []}
    trained = 0.0          # training seconds (validation excluded)
    step, epoch, images_seen = 0, 0, 0
    early_steps, early_seconds = 0, 0.0
    done = False
    ctx.log(f"{name}: {count_parameters(model) / 1e6:.2f} M parameters, budget {spec.budget_s:.0f} s")
    while not done:
        epoch += 1
        model.train()
        order = torch.randperm(n, generator=generator)
        losses = []
        for b in ctx.progress(range(steps_per_epoch), desc=f"{name} epoch {epoch}"):
            t0 = time.perf_counter()
            progress = max(trained / spec.budget_s, step / spec.max_steps if spec.max_steps > 0 else 0.0)
            idx = order[b * spec.batch_size:(b + 1) * spec.batch_size]
            # small crops first: the same zoom (objects keep their size in pixels) with less context,
            # so that early steps, which learn coarse appearance, cost less
            early = spec.early_train_size is not None and progress < spec.early_until
            size = spec.early_train_size if early else spec.train_size
            x, y = augment(train_split.images[idx], train_split.masks[idx], tuple(size),
                           spec.eval_size[0] / train_split.images.shape[-2], tuple(spec.scale_range),
                           spec.flip, generator, spec.jitter)
            x, y = x.to(ctx.device), y.to(ctx.device)
            for group in optimizer.param_groups:
                group["lr"] = spec.lr * lr_factor(progress, spec.warmup, spec.poly_power)
            with autocast(ctx.device, cfg.bf16):
                logits = segmentation_logits(model, x)
            loss = pixel_loss(logits, y, weight, spec.loss_resolution)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            step += 1
            images_seen += len(idx)
            trained += time.perf_counter() - t0
            if early:
                early_steps += 1
                early_seconds += time.perf_counter() - t0
            if trained >= spec.budget_s or 0 < spec.max_steps <= step:
                done = True
                break
        done = done or epoch >= spec.max_epochs
        if done or epoch % spec.val_every == 0:
            report, _, _ = evaluate(model, data["val"], spec, cfg, ctx.device, scales=[1.0])
            history["epoch"].append(epoch)
            history["train_seconds"].append(round(trained, 1))
            history["train_loss"].append(float(np.mean(losses)) if losses else None)
            history["val_miou"].append(report["miou"])
            history["val_pixel_accuracy"].append(report["pixel_accuracy"])
            ctx.log(f"{name} epoch {epoch} ({trained:.0f} s): loss {np.mean(losses):.3f}, "
                    f"val mIoU {report['miou']:.3f}, pixel acc {report['pixel_accuracy']:.3f}")
    info = {"epochs": epoch, "steps": step, "train_seconds": trained, "images_seen": images_seen,
            "train_images_per_second": images_seen / max(trained, 1e-9), "history": history,
            "early_steps": early_steps, "early_seconds": early_seconds,
            "early_images_per_second": early_steps * spec.batch_size / early_seconds if early_steps else None,
            "late_images_per_second": (step - early_steps) * spec.batch_size / max(trained - early_seconds, 1e-9)}
    return model, info


# ----- figures --------------------------------------------------------------------------------

def _row(tiles: torch.Tensor, gap: int = 4) -> np.ndarray:
    """uint8 [K, h, w, 3] -> one image [h, K*w + (K-1)*gap, 3] with white gaps."""
    k, h, w, _ = tiles.shape
    out = torch.full((h, k * w + (k - 1) * gap, 3), 255, dtype=torch.uint8)
    for i in range(k):
        out[:, i * (w + gap): i * (w + gap) + w] = tiles[i]
    return out.numpy()


def _small(images: torch.Tensor, width: int) -> torch.Tensor:
    h, w = images.shape[-2:]
    size = (round(h * width / w), width)
    return F.interpolate(images.float(), size=size, mode="bilinear", antialias=True,
                         align_corners=False).round().clamp(0, 255).to(torch.uint8)


def _small_masks(masks: torch.Tensor, width: int) -> torch.Tensor:
    h, w = masks.shape[-2:]
    size = (round(h * width / w), width)
    return F.interpolate(masks[:, None].float(), size=size, mode="nearest")[:, 0].long()


def save_figures(ctx: Context, cfg: Config, test: Split, sample_idx: torch.Tensor,
                 sample_preds: dict[str, torch.Tensor], reports: dict, histories: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = _small(test.images[sample_idx], cfg.sample_width)                 # [K, 3, h, w]
    ctx.save_image(_row(images.permute(0, 2, 3, 1)), "samples_images")
    ctx.save_image(_row(colorize(_small_masks(test.masks[sample_idx], cfg.sample_width))), "samples_ground_truth")
    for name, pred in sample_preds.items():
        ctx.save_image(_row(overlay(images, _small_masks(pred, cfg.sample_width))), f"samples_{name}")

    names = list(reports)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / max(len(names), 1)
    xs = np.arange(NUM_CLASSES)
    for k, name in enumerate(names):
        ax.bar(xs + (k - (len(names) - 1) / 2) * width, reports[name]["per_class_iou"], width,
               label=f"{DISPLAY.get(name, name)} (mIoU {reports[name]['miou']:.2f})")
    ax.set_xticks(xs, [c.replace("_", "/") for c in CLASS_NAMES], rotation=30, ha="right")
    ax.set_ylabel("IoU (test)")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False)
    ctx.save_figure(fig, "per_class_iou")

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, h in histories.items():
        ax.plot(h["epoch"], h["val_miou"], marker="o", ms=3, label=DISPLAY.get(name, name))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation mIoU")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    ctx.save_figure(fig, "val_miou")


# ----- the experiment -------------------------------------------------------------------------

def run(cfg: dict, ctx: Context) -> dict:
    config = Config(**cfg)
    torch.set_num_threads(config.threads)
    if config.synthetic:
        data = synthetic_camvid(config.synthetic_sizes, seed=ctx.seed)
        source = "synthetic"
    else:
        path = locate("camvid", ctx.data_root)
        data = load_camvid(path, ctx.cache_dir)
        source = path.name
    ctx.log(f"data from {source}: " + ", ".join(f"{s} {len(d)}" for s, d in data.items()))
    weights = (class_weights(data["train"].masks, config.weight_power, config.weight_clip)
               if config.class_weighting == "median_frequency" else None)

    test = data["test"]
    g = torch.Generator().manual_seed(config.sample_seed)
    sample_idx = torch.randperm(len(test), generator=g)[:config.n_samples].sort().values

    metrics: dict = {"data": {"source": source, **{f"{s}_images": len(d) for s, d in data.items()},
                              "image_size": list(test.images.shape[-2:])},
                     "class_weights": weights.tolist() if weights is not None else None,
                     "classes": CLASS_NAMES,
                     "palette": [{"id": i, "key": key, "color": "#%02x%02x%02x" % rgb}
                                 for i, (key, rgb) in enumerate(CLASSES)]}
    counts = torch.bincount(data["train"].masks.reshape(-1).long(), minlength=IGNORE_INDEX + 1).double()
    metrics["data"]["train_class_share"] = dict(zip(CLASS_NAMES + ["unlabelled"], (counts / counts.sum()).tolist()))
    reports, histories, sample_preds, rows = {}, {}, {}, []
    for name, spec in config.models.items():
        if config.speed_steps > 0 and spec.pretrained is None:
            speed = precision_speed(spec, config, data["train"], ctx.device, config.speed_steps)
            ctx.log(f"{name}: training speed bf16 {speed['bf16_train_images_per_second']:.1f} img/s, "
                    f"fp32 {speed['fp32_train_images_per_second']:.1f} img/s")
        else:
            speed = {}
        model, info = train(name, spec, data, weights, config, ctx)
        result = {"parameters": count_parameters(model), "pretrained": spec.pretrained,
                  "train_size": spec.train_size, "eval_size": spec.eval_size, "settings": asdict(spec),
                  **{k: v for k, v in info.items() if k != "history"}, "precision_speed": speed}
        for split in ("val", "test"):
            report, confusion, speed = evaluate(model, data[split], spec, config, ctx.device)
            result[split] = {**report, "per_class": dict(zip(CLASS_NAMES, report["per_class_iou"])),
                             "confusion": confusion.tolist()}
            if split == "test":
                result["inference_images_per_second"] = speed
        if list(spec.eval_scales) != [1.0]:
            # the same test set at eval_size alone, to show what the multi-scale evaluation adds
            report, _, speed = evaluate(model, data["test"], spec, config, ctx.device, scales=[1.0])
            result["test_single_scale"] = {**report, "per_class": dict(zip(CLASS_NAMES, report["per_class_iou"])),
                                           "inference_images_per_second": speed}
        ctx.log(f"{name}: test mIoU {result['test']['miou']:.3f}, pixel accuracy "
                f"{result['test']['pixel_accuracy']:.3f}, {info['epochs']} epochs in {info['train_seconds']:.0f} s")
        metrics[name] = result
        reports[name] = result["test"]
        histories[name] = info["history"]
        ctx.save_json(f"history_{name}", info["history"])
        sample_preds[name] = predict(model, test.images[sample_idx], spec, config, ctx.device)
        rows.append([DISPLAY.get(name, name), result["parameters"], result["test"]["miou"],
                     result["test"]["pixel_accuracy"], round(info["train_seconds"]), info["epochs"],
                     result["inference_images_per_second"]])
        del model

    ctx.save_json("palette", metrics["palette"])
    ctx.save_json("samples", {"test_names": [test.names[i] for i in sample_idx.tolist()]})
    ctx.save_table("comparison", ["model", "parameters", "test mIoU", "test pixel accuracy",
                                  "training time (s)", "epochs", "inference images/s"], rows)
    ctx.save_table("per_class_iou", ["class"] + [DISPLAY.get(n, n) for n in reports],
                   [[c] + [reports[n]["per_class_iou"][i] for n in reports] for i, c in enumerate(CLASS_NAMES)])
    save_figures(ctx, config, test, sample_idx, sample_preds, reports, histories)
    return metrics

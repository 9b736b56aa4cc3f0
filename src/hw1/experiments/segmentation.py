"""Part 2-2: semantic segmentation of CamVid (SegNet split, 11 classes) with SegFormer and BEiT.

Each model is trained for a fixed number of optimizer steps (cpu profile: from scratch at reduced
resolution; gpu profile: fine-tuned from pretrained checkpoints) with class-weighted cross-entropy,
batched random scale/crop/flip augmentation, AdamW and a warm-up + polynomial learning-rate
schedule over the steps. Evaluation runs at the model's input resolution, upsamples the logits to the full
480x360 and accumulates one confusion matrix per split (pixels labelled "unlabelled" are ignored).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Annotated, Literal

import torch
import torch.nn.functional as F

from hw1 import plots
from hw1.config import Check, Invalid
from hw1.data.camvid import (
    CLASS_NAMES,
    CLASSES,
    IGNORE_INDEX,
    NUM_CLASSES,
    Split,
    augment,
    load_camvid,
    synthetic_camvid,
)
from hw1.data.sources import locate
from hw1.experiments.base import Context
from hw1.experiments.segmentation_eval import choose_eval_scales, evaluate, predict
from hw1.experiments.segmentation_figures import DISPLAY, save_figures, val_miou_figure
from hw1.models.segmentation import build_segmentation_model, count_parameters, segmentation_logits
from hw1.train.batches import batch_indices, step_generator
from hw1.train.loop import fit, log_estimate
from hw1.train.optim import adamw, schedule

Size = Annotated[list[int], Check("[h, w]", length=2, min=8)]


@dataclass
class ModelSpec:
    arch: Literal["segformer", "beit"]
    config: dict = field(default_factory=dict)  # transformers config values (from scratch)
    pretrained: str | None = None  # hub id or local folder; overrides config
    train_size: Size = field(default_factory=lambda: [180, 240])  # crop [h, w]
    early_train_size: Size | None = None  # smaller crops first (same zoom, less context, faster steps) ...
    early_steps: Annotated[int, Check(min=0)] = 0  # ... for this many steps, then train_size
    eval_size: Size = field(default_factory=lambda: [180, 240])  # full image resized to [h, w]
    scale_range: Annotated[list[float], Check("[low, high]", length=2, min=0.1)] = field(
        default_factory=lambda: [1.0, 1.0]
    )  # zoom relative to eval_size
    flip: bool = True
    jitter: float = 0.0  # brightness/contrast jitter (normalised units)
    batch_size: Annotated[int, Check(min=1)] = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    steps: Annotated[int, Check(min=1)] = 1000  # optimizer steps: the length of the run
    warmup_steps: Annotated[int, Check(min=0)] = 50
    poly_power: float = 1.0
    eval_every: Annotated[int, Check(min=1)] = 200  # steps between validation passes
    loss_resolution: Literal["input", "logits"] = "input"  # input: logits upsampled to the crop;
    # logits: labels sampled down to the logits (SegFormer: 1/4)
    eval_scales: list[float] = field(default_factory=lambda: [1.0])  # test-time input sizes, relative
    # to eval_size; their softmax outputs are averaged
    eval_scale_candidates: list[list[float]] = field(default_factory=list)  # when given, the one with
    # the best validation mIoU replaces eval_scales (the test set
    # is then evaluated once, with the chosen scales)

    def check(self):
        early = self.early_train_size
        if early is not None and any(e % 8 or e > t for e, t in zip(early, self.train_size)):
            raise Invalid(
                "early_train_size",
                f"expected [h, w], multiples of 8, at most train_size {self.train_size}, got {early}",
            )
        if self.early_steps > self.steps:
            raise Invalid("early_steps", f"must be at most steps={self.steps}, got {self.early_steps}")
        for scales in [self.eval_scales, *self.eval_scale_candidates]:
            if not scales or min(scales) <= 0:
                raise Invalid(
                    "eval_scale_candidates" if scales is not self.eval_scales else "eval_scales",
                    f"expected a non-empty list of positive scales, got {scales}",
                )


@dataclass
class Config:
    models: dict[str, ModelSpec]
    seed: int = 0
    threads: int | None = 2
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    synthetic: bool = False  # smoke profile: tiny generated scenes instead of CamVid
    synthetic_sizes: dict[str, int] = field(default_factory=lambda: {"train": 16, "val": 8, "test": 8})
    class_weighting: Literal["none", "median_frequency"] = "median_frequency"
    weight_power: float = 1.0  # weights ** power (0.5 softens them)
    weight_clip: float = 10.0
    eval_batch_size: int = 16
    flip_test: bool = True  # average the logits of the image and its mirror image
    n_samples: int = 4  # test images shown in the figures
    sample_seed: int = 0
    sample_width: int = 240  # each shown image is resized to this width
    equal_schedule: bool = False  # also train SegFormer on BEiT's schedule (the fair comparison)


EQUAL_SCHEDULE = "segformer_beit_schedule"


def equal_schedule_spec(segformer: ModelSpec, beit: ModelSpec) -> ModelSpec:
    """SegFormer's architecture on BEiT's schedule: the same steps, warm-up, learning rate, weight decay,
    batch, crops, augmentation and evaluation size. The two models' main runs differ in all of these
    (SegFormer trains 15x longer, on small crops first), so only this pair compares the architectures."""
    return replace(
        beit,
        arch="segformer",
        config=segformer.config,
        pretrained=segformer.pretrained,
        eval_scale_candidates=[],
        eval_scales=[1.0],
    )


# ----- training -------------------------------------------------------------------------------


def class_weights(masks: torch.Tensor, power: float, clip: float) -> torch.Tensor:
    """Median-frequency balancing (Eigen & Fergus): w_c = median(f) / f_c, where f_c is the pixel
    count of class c over the pixels of the images in which c occurs."""
    n = masks.shape[0]
    per_image = (
        torch.bincount(
            (torch.arange(n).view(n, 1) * (IGNORE_INDEX + 1) + masks.reshape(n, -1).long()).reshape(-1),
            minlength=n * (IGNORE_INDEX + 1),
        )
        .reshape(n, -1)[:, :NUM_CLASSES]
        .double()
    )
    labelled = per_image.sum(1, keepdim=True)  # [n, 1]
    present = per_image > 0
    freq = per_image.sum(0) / (labelled * present).sum(0).clamp(min=1)  # [C]
    seen = freq > 0
    if not bool(seen.any()):
        return torch.ones(NUM_CLASSES)
    w = (freq[seen].median() / freq.clamp(min=1e-12)) ** power  # absent classes: clipped
    return w.clamp(max=clip).float()


def pixel_loss(
    logits: torch.Tensor, masks: torch.Tensor, weight: torch.Tensor | None, resolution: str
) -> torch.Tensor:
    """Class-weighted cross-entropy of logits [B, C, h, w] against masks [B, H, W], unlabelled ignored.

    resolution "input": the logits are upsampled bilinearly to H x W (every labelled pixel counts);
    "logits": the mask is sampled at the centre of each logit's cell instead. On the CPU this skips
    the costliest part of the backward pass (the gradient of a 16x upsampling), at the price of
    supervising thin objects less precisely.
    """
    logits = logits.float()
    if resolution == "logits":
        masks = F.interpolate(masks[:, None].float(), size=logits.shape[-2:], mode="nearest-exact")[
            :, 0
        ].long()
    else:
        logits = F.interpolate(logits, size=masks.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(logits, masks, weight=weight, ignore_index=IGNORE_INDEX)


def training_plan(
    name: str,
    spec: ModelSpec,
    model,
    data: dict[str, Split],
    weights: torch.Tensor | None,
    cfg: Config,
    ctx: Context,
) -> dict:
    """The keyword arguments of fit() for one model: `spec.steps` steps of AdamW with warm-up then
    polynomial decay, the first `early_steps` on the smaller crops, validation mIoU every eval_every."""
    optimizer = adamw(model, spec.lr, spec.weight_decay)
    scheduler = schedule(optimizer, "polynomial", spec.steps, spec.warmup_steps, power=spec.poly_power)
    train_split = data["train"]
    n = len(train_split)
    weight = weights.to(ctx.device) if weights is not None else None
    early = lambda step: spec.early_train_size is not None and step <= spec.early_steps  # noqa: E731

    def next_batch(step: int):
        idx = batch_indices(step, n, spec.batch_size, ctx.seed)
        # small crops first: the same zoom (objects keep their size in pixels) with less context,
        # so that early steps, which learn coarse appearance, cost less
        size = spec.early_train_size if early(step) else spec.train_size
        x, y = augment(
            train_split.images[idx],
            train_split.masks[idx],
            tuple(size),
            spec.eval_size[0] / train_split.images.shape[-2],
            tuple(spec.scale_range),
            spec.flip,
            step_generator(step, ctx.seed),
            spec.jitter,
        )
        return x.to(ctx.device), y.to(ctx.device)

    def loss_fn(batch):
        x, y = batch
        return pixel_loss(segmentation_logits(model, x), y, weight, spec.loss_resolution)

    def validate(step: int) -> dict:
        report, _, _ = evaluate(model, data["val"], spec, cfg, ctx.device, ctx.precision, scales=[1.0])
        ctx.log(
            f"{name} step {step}: val mIoU {report['miou']:.3f}, pixel accuracy {report['pixel_accuracy']:.3f}"
        )
        return {
            "images": step * spec.batch_size,
            "val_miou": report["miou"],
            "val_pixel_accuracy": report["pixel_accuracy"],
        }

    return dict(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        steps=spec.steps,
        next_batch=next_batch,
        loss_fn=loss_fn,
        device=ctx.device,
        precision=ctx.precision,
        grad_clip=1.0,
        eval_every=spec.eval_every,
        evaluate=validate,
        phase=lambda step: "early" if early(step) else "full",
        items_per_step=spec.batch_size,
        progress=ctx.progress,
        desc=name,
    )


# ----- the experiment -------------------------------------------------------------------------


def run(config: Config, ctx: Context) -> dict:
    if config.synthetic:
        data = synthetic_camvid(config.synthetic_sizes, seed=ctx.seed)
        source = "synthetic"
    else:
        path = locate("camvid", ctx.data_root)
        data = load_camvid(path, ctx.cache_dir)
        source = path.name
    ctx.log(f"data from {source}: " + ", ".join(f"{s} {len(d)}" for s, d in data.items()))
    weights = (
        class_weights(data["train"].masks, config.weight_power, config.weight_clip)
        if config.class_weighting == "median_frequency"
        else None
    )
    test = data["test"]
    g = torch.Generator().manual_seed(config.sample_seed)
    sample_idx = torch.randperm(len(test), generator=g)[: config.n_samples].sort().values
    counts = torch.bincount(data["train"].masks.reshape(-1).long(), minlength=IGNORE_INDEX + 1).double()
    metrics: dict = {
        "data": {
            "source": source,
            **{f"{s}_images": len(d) for s, d in data.items()},
            "image_size": list(test.images.shape[-2:]),
            "train_class_share": dict(zip(CLASS_NAMES + ["unlabelled"], (counts / counts.sum()).tolist())),
        },
        "class_weights": weights.tolist() if weights is not None else None,
        "classes": CLASS_NAMES,
        "precision": ctx.precision,
        "palette": [
            {"id": i, "key": key, "color": "#{:02x}{:02x}{:02x}".format(*rgb)}
            for i, (key, rgb) in enumerate(CLASSES)
        ],
    }
    torch.manual_seed(ctx.seed)  # every model is built before any training: a missing checkpoint fails now
    plans = {}
    for name, spec in config.models.items():
        torch.manual_seed(ctx.seed)
        model = build_segmentation_model(
            spec.arch, NUM_CLASSES, spec.config, spec.pretrained, CLASS_NAMES, IGNORE_INDEX
        ).to(ctx.device)
        plans[name] = training_plan(name, spec, model, data, weights, config, ctx)
        ctx.log(f"{name}: {count_parameters(model) / 1e6:.2f} M parameters, {spec.steps} steps")
    control = None
    if config.equal_schedule and {"segformer", "beit"} <= set(config.models):
        torch.manual_seed(ctx.seed)
        spec = equal_schedule_spec(config.models["segformer"], config.models["beit"])
        model = build_segmentation_model(
            spec.arch, NUM_CLASSES, spec.config, spec.pretrained, CLASS_NAMES, IGNORE_INDEX
        ).to(ctx.device)
        control = (spec, training_plan(EQUAL_SCHEDULE, spec, model, data, weights, config, ctx))
    metrics["timing"] = {
        "estimate_s": log_estimate(
            ctx,
            {**plans, **({EQUAL_SCHEDULE: control[1]} if control else {})},
            {
                name: evaluation_passes(spec, len(data["val"]), len(test))
                for name, spec in config.models.items()
            },
        )
    }
    histories, sample_preds = {}, {}
    for name, spec in config.models.items():
        plan = plans.pop(name)
        model = plan["model"]
        histories[name] = fit(**plan)
        metrics[name] = model_results(name, spec, model, histories[name], data, config, ctx)
        ctx.save_json(f"history_{name}", {"evals": histories[name].evals, "timing": histories[name].timing})
        sample_preds[name] = predict(model, test.images[sample_idx], spec, config, ctx.device, ctx.precision)
        del model
    names = list(histories)
    ctx.save_json("palette", metrics["palette"])
    ctx.save_json("samples", {"test_names": [test.names[i] for i in sample_idx.tolist()]})
    ctx.save_table(
        "comparison",
        ["model", "parameters", "test mIoU", "test pixel accuracy", "steps", "training crops"],
        [
            [
                DISPLAY.get(n, n),
                metrics[n]["parameters"],
                metrics[n]["test"]["miou"],
                metrics[n]["test"]["pixel_accuracy"],
                metrics[n]["steps"],
                metrics[n]["images_seen"],
            ]
            for n in names
        ],
    )
    ctx.save_table(
        "timing",
        ["model", "training time (s)", "inference images/s"],
        [
            [
                DISPLAY.get(n, n),
                round(metrics[n]["timing"]["train_s"]),
                metrics[n]["timing"]["inference_images_per_second"],
            ]
            for n in names
        ],
    )
    ctx.save_table(
        "per_class_iou",
        ["class"] + [DISPLAY.get(n, n) for n in names],
        [[c] + [metrics[n]["test"]["per_class_iou"][i] for n in names] for i, c in enumerate(CLASS_NAMES)],
    )
    if control:
        history = fit(**control[1])
        ctx.save_json(f"history_{EQUAL_SCHEDULE}", {"evals": history.evals, "timing": history.timing})
        metrics["equal_schedule"] = equal_schedule_results(control[0], history, histories["beit"])
        ctx.save_figure(
            "val_miou_equal_schedule",
            lambda w: val_miou_figure(w, {"beit": histories["beit"], EQUAL_SCHEDULE: history}),
        )
    save_figures(
        ctx, config, test, sample_idx, sample_preds, {n: metrics[n]["test"] for n in names}, histories
    )
    for n in names:
        ctx.save_figure(
            f"confusion_{n}",
            lambda w: plots.confusion(
                w,
                metrics[n]["test"]["confusion"],
                [w.get(c) for c in CLASS_NAMES],
                w("{model}: confusion matrix (test, share of each true class)", model=DISPLAY.get(n, n)),
                normalise=True,
            ),
        )
    return metrics


def evaluation_passes(spec: ModelSpec, n_val: int, n_test: int) -> float:
    """The evaluations after training in units of one validation pass at scale 1 (for the estimate):
    each candidate scale on the validation set, then the test set with at most all of them (the cost
    of a pass grows with the scale's area)."""
    scales = set(s for c in spec.eval_scale_candidates for s in c) or set(spec.eval_scales)
    area = sum(s * s for s in scales)
    return area * (1 + n_test / max(n_val, 1))


def equal_schedule_results(spec: ModelSpec, segformer, beit) -> dict:
    """Both validation curves on the same schedule (one seed each), point by point."""
    return {
        "steps": spec.steps,
        "warmup_steps": spec.warmup_steps,
        "lr": spec.lr,
        "batch_size": spec.batch_size,
        "train_size": spec.train_size,
        "eval_size": spec.eval_size,
        "curve": [
            {"step": a["step"], "images": a["images"], "segformer": a["val_miou"], "beit": b["val_miou"]}
            for a, b in zip(segformer.evals, beit.evals)
            if a["step"] == b["step"]
        ],
        "timing": {"segformer_train_s": segformer.timing["train_s"], "beit_train_s": beit.timing["train_s"]},
    }


ARCHITECTURE_KEYS = {
    "segformer": ("hidden_sizes", "depths", "num_attention_heads", "sr_ratios", "decoder_hidden_size"),
    "beit": (
        "patch_size",
        "image_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "pool_scales",
    ),
}


def architecture(model) -> dict:
    """The sizes of the model as built (from its config or its checkpoint), for the page."""
    c = model.config
    out = {k: getattr(c, k) for k in ARCHITECTURE_KEYS.get(c.model_type, ()) if hasattr(c, k)}
    if c.model_type == "beit":  # the layers feeding the head, 1-based (see models/segmentation.py)
        out["out_layers"] = list(getattr(c, "out_layers", None) or [i - 1 for i in c.out_indices])
    return out


def model_results(
    name: str, spec: ModelSpec, model, history, data: dict[str, Split], config: Config, ctx: Context
) -> dict:
    """Validation and test reports of a trained model, its settings, and its timings under `timing`."""
    phases = history.timing["phases"]
    early_steps = spec.early_steps if spec.early_train_size is not None else 0
    result = {
        "parameters": count_parameters(model),
        "pretrained": spec.pretrained,
        "architecture": architecture(model),
        "train_size": spec.train_size,
        "eval_size": spec.eval_size,
        "settings": asdict(spec),
        "steps": spec.steps,
        "early_steps": early_steps,
        "images_seen": spec.steps * spec.batch_size,
        "epochs": spec.steps * spec.batch_size / len(data["train"]),
        "history": history.evals,
        "timing": {
            "train_s": history.timing["train_s"],
            "train_images_per_second": history.timing["items_per_s"],
            "early_images_per_second": phases.get("early", {}).get("items_per_s"),
            "late_images_per_second": phases.get("full", {}).get("items_per_s"),
        },
    }
    scales, val, result["eval_scale_choice"] = choose_eval_scales(model, data["val"], spec, config, ctx)
    result["settings"]["eval_scales"] = scales
    test = evaluate(model, data["test"], spec, config, ctx.device, ctx.precision, scales)  # once
    for split, (report, confusion, _) in (("val", val), ("test", test)):
        result[split] = {
            **report,
            "per_class": dict(zip(CLASS_NAMES, report["per_class_iou"])),
            "confusion": confusion.tolist(),
        }
    result["timing"]["inference_images_per_second"] = test[2]  # measured on the test split
    del result["history"]
    ctx.log(
        f"{name}: test mIoU {result['test']['miou']:.3f}, pixel accuracy {result['test']['pixel_accuracy']:.3f}, "
        f"{spec.steps} steps in {history.timing['train_s']:.0f} s"
    )
    return result

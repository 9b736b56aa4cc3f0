"""Part 2-3: CIFAR-10 classification with the original report's MLP, a small CNN and BEiT.

* MLP: exactly the original's Keras model (3072-256-256-10, SGD 0.01, momentum 0.9, Nesterov,
  Keras' time-based decay 1e-6 per iteration, batch 32, pixels in [0, 1]), for a number of epochs.
* CNN (hw1.models.cnn): the baseline a transformer is measured against, trained for a number of
  steps (SGD with Nesterov momentum, linear warm-up and decay, label smoothing, crop + flip; the
  test prediction averages the image and its mirror image).
* BEiT (transformers' BeitForImageClassification), for a number of steps:
  - cpu profile: a small BEiT trained from scratch at 32 px (AdamW, warm-up then cosine, label
    smoothing, random crop + flip, bf16 autocast where the CPU has it natively, torch.compile),
    the first `low_res_steps` steps at a smaller size (progressive resizing: fewer tokens, faster);
  - gpu profile: the pretrained microsoft/beit-base-patch16-224-pt22k-ft22k fine-tuned at 224 px.

Data: 45,000 train / 5,000 validation (fixed seed) / 10,000 test, in memory as uint8 tensors;
batches are index slices, augmentation is batched on tensors. Both models train in hw1.train.loop.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Literal

import torch
import torch.nn.functional as F

from hw1 import plots
from hw1.config import Check, Invalid
from hw1.data import augment, cifar10
from hw1.experiments.base import Context, round_floats
from hw1.experiments.classification_figures import save_dataset_samples, save_figures, save_samples
from hw1.metrics import classification_report, confusion_matrix
from hw1.models import beit as beit_models
from hw1.models import cnn as cnn_models
from hw1.models import mlp as mlp_models
from hw1.train.batches import batch_indices, step_generator
from hw1.train.loop import fit, log_estimate
from hw1.train.optim import adamw, schedule, sgd
from hw1.train.precision import autocast

CLASSES = list(cifar10.CLASSES)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
Positive = Annotated[int, Check(min=1)]


# ----- configuration ------------------------------------------------------------------------------


@dataclass
class MLPConfig:
    epochs: Positive = 15
    batch_size: Positive = 32
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = True
    decay: float = 1e-6  # Keras' time-based decay, per iteration
    threads: Positive = 1  # batch 32 is too small to gain from a second thread


@dataclass
class CNNConfig:
    widths: list[int] = field(default_factory=lambda: [24, 48, 96, 192])  # stem and the three stages
    steps: Positive = 1400  # optimizer steps: the length of the run
    batch_size: Positive = 256
    lr: float = 0.1  # peak, after a linear warm-up; then linear decay to 0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4  # on the weights, not on biases and norms (hw1.train.optim)
    warmup_steps: Annotated[int, Check(min=0)] = 70
    label_smoothing: float = 0.2
    crop_padding: Annotated[int, Check(min=0)] = 2
    flip: bool = True
    flip_test: bool = True  # predict from the image and its mirror image (mean logits)
    eval_every: Positive = 175
    eval_batch_size: Positive = 1000
    threads: int | None = None  # None: the experiment's `threads`

    def check(self):
        if len(self.widths) != 4:
            raise Invalid("widths", f"must give 4 widths (stem and three stages), got {self.widths}")


@dataclass
class BeitConfig:
    pretrained: str | None = None  # hub id or local folder; None: build a small BEiT from scratch
    image_size: Positive = 32  # input size (pretrained: images are resized to it)
    patch_size: Positive = 4
    hidden_size: Positive = 192
    layers: Positive = 4
    heads: Positive = 3
    mlp_ratio: float = 2.0
    drop_path: float = 0.0
    layer_scale: float = 0.1
    stem: Literal["patch", "conv"] = "patch"  # conv: two 3x3 stride-2 convs as the patch embedding
    steps: Positive = 1000  # optimizer steps: the length of the run
    low_res_size: int | None = None  # progressive resizing: the first low_res_steps steps at this size
    low_res_steps: Annotated[int, Check(min=0)] = 0
    batch_size: Positive = 256
    lr: float = 2e-3
    min_lr: float = 1e-5  # the cosine ends here
    weight_decay: float = 0.05
    warmup_steps: Annotated[int, Check(min=0)] = 100
    label_smoothing: float = 0.1
    crop_padding: Annotated[int, Check(min=0)] = 4
    flip: bool = True
    grad_clip: float = 1.0
    compile: bool = False  # torch.compile the training forward (evaluation stays eager)
    eval_every: Positive = 250  # steps between validation passes
    eval_batch_size: Positive = 500

    def check(self):
        if self.image_size % self.patch_size:
            raise Invalid("patch_size", f"must divide image_size={self.image_size}, got {self.patch_size}")
        if self.low_res_size is not None and not (
            0 < self.low_res_size < self.image_size and self.low_res_size % self.patch_size == 0
        ):
            raise Invalid(
                "low_res_size",
                f"must be smaller than image_size={self.image_size} and a "
                f"multiple of patch_size={self.patch_size}, got {self.low_res_size}",
            )
        if self.low_res_steps > self.steps:
            raise Invalid("low_res_steps", f"must be at most steps={self.steps}, got {self.low_res_steps}")

    def image_size_at(self, step: int) -> int:
        """Progressive resizing: steps 1..low_res_steps at low_res_size, the rest at image_size."""
        return self.low_res_size if self.low_res_size and step <= self.low_res_steps else self.image_size


@dataclass
class Config:
    seed: int = 0
    threads: int | None = 2
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    split_seed: int = 0
    n_val: Positive = 5000
    synthetic: bool = False  # smoke: tiny generated data, no files needed
    synthetic_sizes: dict[str, int] = field(default_factory=lambda: {"train": 400, "test": 200})
    n_samples: int = 16  # test images shown with their predictions
    dataset_samples_per_class: int = 2  # training images of each class shown with their labels
    sample_seed: int = 1
    sample_px: int = 96
    mlp: MLPConfig = field(default_factory=MLPConfig)
    cnn: CNNConfig = field(default_factory=CNNConfig)
    beit: BeitConfig = field(default_factory=BeitConfig)


# ----- data ---------------------------------------------------------------------------------------


def normalise(x_u8: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float, (x / 255 - mean) / std per channel."""
    m = torch.tensor(mean, device=x_u8.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x_u8.device).view(1, 3, 1, 1)
    return (x_u8.float() / 255 - m) / s


# ----- evaluation ---------------------------------------------------------------------------------


@torch.no_grad()
def predict(
    forward, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: str, precision: str
) -> tuple[float, torch.Tensor]:
    """(mean cross-entropy, predicted labels) over a dataset, in batches. forward: batch -> logits,
    run in the precision the model trained in."""
    total, preds = 0.0, []
    for i in range(0, len(y), batch_size):
        with autocast(device, precision):
            logits = forward(x[i : i + batch_size]).float()
        total += float(F.cross_entropy(logits, y[i : i + batch_size], reduction="sum"))
        preds.append(logits.argmax(1))
    return total / max(len(y), 1), torch.cat(preds)


def report(loss: float, pred: torch.Tensor, y: torch.Tensor) -> tuple[dict, torch.Tensor]:
    confusion = confusion_matrix(pred.cpu(), y.cpu(), len(CLASSES))
    r = classification_report(confusion)
    # On a balanced test set micro-F1 = accuracy (every error is one FP and one FN); kept to show it.
    return {
        "loss": loss,
        "accuracy": r["accuracy"],
        "macro_f1": r["macro_f1"],
        "micro_f1": r["accuracy"],
        "macro_precision": r["macro_precision"],
        "macro_recall": r["macro_recall"],
        "per_class": r["per_class"],
    }, confusion


def validation(forward, val: cifar10.Split, batch_size: int, device: str, precision: str):
    """evaluate(step) for fit(): validation loss, accuracy and macro-F1 (the columns that
    transformers' Trainer prints at each evaluation, with the training loss since the last one)."""

    def evaluate(step: int) -> dict:
        loss, pred = predict(forward, val.x, val.y, batch_size, device, precision)
        r = classification_report(confusion_matrix(pred.cpu(), val.y.cpu(), len(CLASSES)))
        return {
            "val_loss": loss,
            "val_accuracy": float((pred.cpu() == val.y.cpu()).float().mean()),
            "val_f1": r["macro_f1"],
        }

    return evaluate


# ----- MLP ----------------------------------------------------------------------------------------

MLP_PRECISION = "fp32"  # the original's Keras model trained in fp32: a replication keeps it


def mlp_plan(c: MLPConfig, train: cifar10.Split, val: cifar10.Split, ctx: Context) -> dict:
    """The MLP's training, as the keyword arguments of fit() (and of estimate())."""
    model = mlp_models.MLP().to(ctx.device)
    x = train.x.flatten(1).float().div_(255).to(ctx.device)  # [N, 3072] in [0, 1], as the original
    y = train.y.to(ctx.device)
    x_val = cifar10.Split(val.x.flatten(1).float().div_(255).to(ctx.device), val.y.to(ctx.device))
    n = len(y)
    per_epoch = -(-n // c.batch_size)  # Keras keeps the last, smaller batch: keep_last
    optimizer = sgd(model, c.lr, c.momentum, c.nesterov)
    scheduler = schedule(optimizer, "keras_time_decay", c.epochs * per_epoch, decay=c.decay)

    def next_batch(step: int):
        idx = batch_indices(step, n, c.batch_size, ctx.seed, keep_last=True).to(ctx.device)
        return x[idx], y[idx]

    def loss_fn(batch):
        xb, yb = batch
        logits = model(xb)
        return F.cross_entropy(logits, yb), {"accuracy": (logits.argmax(1) == yb).float().mean()}

    return dict(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        steps=c.epochs * per_epoch,
        next_batch=next_batch,
        loss_fn=loss_fn,
        device=ctx.device,
        precision=MLP_PRECISION,
        eval_every=per_epoch,
        evaluate=validation(model, x_val, 5000, ctx.device, MLP_PRECISION),
        items_per_step=c.batch_size,
        threads=c.threads,
        progress=ctx.progress,
        desc="MLP",
    )


def train_mlp(c: MLPConfig, train: cifar10.Split, val: cifar10.Split, ctx: Context, plan: dict | None = None):
    """(model, history, final learning rate); history.evals carry `epoch`."""
    plan = plan or mlp_plan(c, train, val, ctx)
    history = fit(**plan)
    for e in history.evals:
        e["epoch"] = e["step"] / plan["eval_every"]
    return plan["model"].eval(), history, plan["scheduler"].get_last_lr()[0]


# ----- CNN ----------------------------------------------------------------------------------------


def cnn_plan(c: CNNConfig, train: cifar10.Split, val: cifar10.Split, ctx: Context, threads: int | None):
    """(model, forward, the keyword arguments of fit()) for the CNN; forward(uint8 batch) -> logits
    (with flip_test, the mean of the image's and its mirror image's logits)."""
    device = ctx.device
    model = cnn_models.CNN(tuple(c.widths), len(CLASSES)).to(device, memory_format=torch.channels_last)

    def inputs(x_u8: torch.Tensor) -> torch.Tensor:  # channels-last: oneDNN's fast layout for convolutions
        return normalise(x_u8.to(device), CIFAR_MEAN, CIFAR_STD).contiguous(memory_format=torch.channels_last)

    def forward(x_u8: torch.Tensor) -> torch.Tensor:
        x = inputs(x_u8)
        return (model(x) + model(x.flip(-1))) / 2 if c.flip_test else model(x)

    optimizer = sgd(model, c.lr, c.momentum, c.nesterov, c.weight_decay)
    scheduler = schedule(optimizer, "polynomial", c.steps, c.warmup_steps, power=1.0)  # linear decay
    n, bs = len(train.y), c.batch_size

    def next_batch(step: int):  # the last partial batch of an epoch is dropped: one shape
        idx = batch_indices(step, n, bs, ctx.seed)
        x = augment.augment(train.x[idx], c.crop_padding, c.flip, step_generator(step, ctx.seed))
        return inputs(x), train.y[idx].to(device)

    def loss_fn(batch):
        xb, yb = batch
        logits = model(xb).float()
        loss = F.cross_entropy(logits, yb, label_smoothing=c.label_smoothing)
        return loss, {"accuracy": (logits.detach().argmax(1) == yb).float().mean()}

    return (
        model,
        forward,
        dict(
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            steps=c.steps,
            next_batch=next_batch,
            loss_fn=loss_fn,
            device=device,
            precision=ctx.precision,
            eval_every=c.eval_every,
            evaluate=validation(
                forward, cifar10.Split(val.x, val.y.to(device)), c.eval_batch_size, device, ctx.precision
            ),
            items_per_step=bs,
            threads=threads,
            progress=ctx.progress,
            desc="CNN",
        ),
    )


def train_cnn(c: CNNConfig, train: cifar10.Split, plan: tuple):
    """(model, forward, history); history.evals carry `epoch`."""
    model, forward, kwargs = plan
    history = fit(**kwargs)
    for e in history.evals:
        e["epoch"] = e["step"] * c.batch_size / len(train.y)
    return model.eval(), forward, history


# ----- BEiT ---------------------------------------------------------------------------------------


def build_beit(c: BeitConfig):
    """(model, mean, std): the pretrained checkpoint when given, else a small BEiT from scratch."""
    if c.pretrained:
        model = beit_models.pretrained(c.pretrained, CLASSES)
        return model, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # BEiT's image processor normalisation
    model = beit_models.scratch(
        len(CLASSES),
        CLASSES,
        image_size=c.image_size,
        patch_size=c.patch_size,
        hidden_size=c.hidden_size,
        layers=c.layers,
        heads=c.heads,
        mlp_ratio=c.mlp_ratio,
        drop_path=c.drop_path,
        layer_scale=c.layer_scale,
        stem=c.stem,
    )
    return model, CIFAR_MEAN, CIFAR_STD


def beit_plan(c: BeitConfig, model, mean, std, train: cifar10.Split, val: cifar10.Split, ctx: Context):
    """(forward, the keyword arguments of fit()) for BEiT; forward(uint8 batch) -> logits."""
    device = ctx.device
    model.to(device)

    def forward(x_u8: torch.Tensor, size: int | None = None) -> torch.Tensor:
        # a smaller image gives fewer patch tokens; BEiT's relative position bias table is
        # resampled to the smaller grid, so the same weights serve both sizes
        x = normalise(x_u8.to(device, non_blocking=True), mean, std)
        size = size or c.image_size
        if x.shape[-1] != size:
            x = F.interpolate(
                x, size=size, mode="bilinear", align_corners=False, antialias=size < x.shape[-1]
            )
        return model(pixel_values=x).logits

    # dynamic=False: one specialised graph per image size (a shape-generic one ran slower than eager);
    # compiled inside fit()'s autocast, so the graph has the run's precision
    train_forward = torch.compile(forward, dynamic=False) if c.compile else forward
    optimizer = adamw(model, c.lr, c.weight_decay)
    scheduler = schedule(optimizer, "cosine", c.steps, c.warmup_steps, min_lr_ratio=c.min_lr / c.lr)
    n, bs = len(train.y), c.batch_size

    def next_batch(step: int):  # the last partial batch of an epoch is dropped: one shape
        idx = batch_indices(step, n, bs, ctx.seed)
        x = augment.augment(train.x[idx], c.crop_padding, c.flip, step_generator(step, ctx.seed))
        return x, train.y[idx].to(device), c.image_size_at(step)

    def loss_fn(batch):
        xb, yb, size = batch
        logits = train_forward(xb, size).float()
        loss = F.cross_entropy(logits, yb, label_smoothing=c.label_smoothing)
        return loss, {"accuracy": (logits.detach().argmax(1) == yb).float().mean()}

    return forward, dict(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        steps=c.steps,
        next_batch=next_batch,
        loss_fn=loss_fn,
        device=device,
        precision=ctx.precision,
        grad_clip=c.grad_clip,
        eval_every=c.eval_every,
        evaluate=validation(
            forward, cifar10.Split(val.x, val.y.to(device)), c.eval_batch_size, device, ctx.precision
        ),
        phase=lambda step: f"{c.image_size_at(step)}px",
        items_per_step=bs,
        progress=ctx.progress,
        desc="BEiT",
    )


def train_beit(
    c: BeitConfig,
    model,
    mean,
    std,
    train: cifar10.Split,
    val: cifar10.Split,
    ctx: Context,
    plan: tuple | None = None,
):
    """(forward, history); history.evals carry `epoch` and `image_size`."""
    forward, kwargs = plan or beit_plan(c, model, mean, std, train, val, ctx)
    history = fit(**kwargs)
    for e in history.evals:
        e["epoch"] = e["step"] * c.batch_size / len(train.y)
        e["image_size"] = c.image_size_at(e["step"])
    return forward, history


def split_metrics(point: dict, split: str) -> dict:
    return {"loss": point[f"{split}_loss"], "accuracy": point[f"{split}_accuracy"]}


# ----- the experiment -----------------------------------------------------------------------------


def run(config: Config, ctx: Context) -> dict:
    if config.synthetic:
        data = cifar10.synthetic(
            config.synthetic_sizes.get("train", 400), config.synthetic_sizes.get("test", 200), config.seed
        )
    else:
        data = cifar10.load(ctx.data_root, ctx.cache_dir)
    train, val = cifar10.train_val_split(data, config.n_val, config.split_seed)
    ctx.log(f"data: {data.source}, {len(train.y)} train / {len(val.y)} validation / {len(data.y_test)} test")
    save_dataset_samples(ctx, train, config.dataset_samples_per_class, config.sample_seed, config.sample_px)
    c = config.beit
    beit_model, mean, std = build_beit(c)  # before any training: a missing checkpoint fails now
    beit = beit_plan(c, beit_model, mean, std, train, val, ctx)
    mlp = mlp_plan(config.mlp, train, val, ctx)
    cnn = cnn_plan(config.cnn, train, val, ctx, config.cnn.threads)
    test_passes = len(data.y_test) / max(len(val.y), 1)  # the test set, once, in validation passes
    estimates = log_estimate(
        ctx,
        {"MLP": mlp, "CNN": cnn[2], "BEiT": beit[1]},
        {"MLP": test_passes, "CNN": test_passes, "BEiT": test_passes},
    )

    mlp_model, mlp_history, final_lr = train_mlp(config.mlp, train, val, ctx, plan=mlp)
    x_test_flat = data.x_test.flatten(1).float().div_(255).to(ctx.device)
    loss, mlp_pred = predict(
        mlp_model, x_test_flat, data.y_test.to(ctx.device), 5000, ctx.device, MLP_PRECISION
    )
    mlp_pred = mlp_pred.cpu()
    mlp_test, mlp_confusion = report(loss, mlp_pred, data.y_test)
    ctx.save_table(
        "mlp_summary",
        ["layer", "output shape", "parameters"],
        mlp_models.summary(mlp_model) + [["total", "", mlp_models.PARAMETERS]],
    )
    save_figures(ctx, "mlp", "MLP", mlp_history, mlp_confusion)
    ctx.log(f"MLP: test accuracy {mlp_test['accuracy']:.4f}, macro-F1 {mlp_test['macro_f1']:.4f}")

    cnn_model, cnn_forward, cnn_history = train_cnn(config.cnn, train, cnn)
    loss, cnn_pred = predict(
        cnn_forward,
        data.x_test,
        data.y_test.to(ctx.device),
        config.cnn.eval_batch_size,
        ctx.device,
        ctx.precision,
    )
    cnn_pred = cnn_pred.cpu()
    cnn_test, cnn_confusion = report(loss, cnn_pred, data.y_test)
    save_figures(ctx, "cnn", "CNN", cnn_history, cnn_confusion)
    ctx.log(f"CNN: test accuracy {cnn_test['accuracy']:.4f}, macro-F1 {cnn_test['macro_f1']:.4f}")

    forward, beit_history = train_beit(c, beit_model, mean, std, train, val, ctx, plan=beit)
    beit_model.eval()
    loss, beit_pred = predict(
        forward, data.x_test, data.y_test.to(ctx.device), c.eval_batch_size, ctx.device, ctx.precision
    )
    beit_pred = beit_pred.cpu()
    beit_test, beit_confusion = report(loss, beit_pred, data.y_test)
    save_figures(ctx, "beit", "BEiT", beit_history, beit_confusion)
    ctx.save_figure(
        "accuracy_vs_time",
        lambda w: plots.against_time(
            w,
            {"MLP": mlp_history, "CNN": cnn_history, "BEiT": beit_history},
            "val_accuracy",
            w("validation accuracy"),
            w("validation accuracy against training time"),
        ),
    )
    save_samples(
        ctx,
        data.x_test,
        data.y_test,
        {"mlp": mlp_pred, "cnn": cnn_pred, "beit": beit_pred},
        config.n_samples,
        config.sample_seed,
        config.sample_px,
    )
    ctx.log(f"BEiT: test accuracy {beit_test['accuracy']:.4f}, macro-F1 {beit_test['macro_f1']:.4f}")
    metrics = summarise(
        config,
        ctx,
        data,
        train,
        val,
        mlp_history,
        mlp_test,
        final_lr,
        beit_model,
        beit_history,
        beit_test,
        cnn_history,
    )
    metrics["cnn"] = cnn_summary(config.cnn, train, cnn_model, cnn_history, cnn_test)
    ctx.save_table(
        "models",
        ["model", "parameters", "training time (s)", "test accuracy"],
        [
            [
                name,
                metrics[name]["parameters"],
                round(metrics[name]["timing"]["train_s"]),
                metrics[name]["test"]["accuracy"],
            ]
            for name in ("mlp", "cnn", "beit")
        ],
    )

    metrics["timing"] = {"estimate_s": estimates}
    return metrics


def cnn_summary(c: CNNConfig, train: cifar10.Split, model, history, test: dict) -> dict:
    test = {**test, "per_class": {k: dict(zip(CLASSES, v)) for k, v in test["per_class"].items()}}
    return round_floats(
        {
            "parameters": cnn_models.count_parameters(model),
            "widths": list(c.widths),
            "steps": c.steps,
            "epochs": c.steps * c.batch_size / len(train.y),
            "batch_size": c.batch_size,
            "flip_test": c.flip_test,
            "train": split_metrics(history.last(), "train"),
            "validation": split_metrics(history.last(), "val"),
            "test": test,
            "timing": {"train_s": history.timing["train_s"], "images_per_s": history.timing["items_per_s"]},
        }
    )


def summarise(
    config,
    ctx,
    data,
    train,
    val,
    mlp_history,
    mlp_test,
    final_lr,
    beit_model,
    beit_history,
    beit_test,
    cnn_history,
) -> dict:
    """Tables, history.json and metrics.json (timings under `timing`)."""
    c = config.beit
    ctx.save_table(
        "per_class",
        ["class", "MLP precision", "MLP recall", "MLP F1", "BEiT precision", "BEiT recall", "BEiT F1"],
        [
            [
                name,
                *(r["per_class"][k][i] for r in (mlp_test, beit_test) for k in ("precision", "recall", "f1")),
            ]
            for i, name in enumerate(CLASSES)
        ],
    )
    ctx.save_table(
        "test_metrics",
        ["model", "test loss", "accuracy", "macro-F1", "macro precision", "macro recall"],
        [
            [name, r["loss"], r["accuracy"], r["macro_f1"], r["macro_precision"], r["macro_recall"]]
            for name, r in (("mlp", mlp_test), ("beit", beit_test))
        ],
    )
    # as transformers' Trainer prints a fine-tuning run: one row per evaluation
    ctx.save_table(
        "beit_training_log",
        ["step", "epoch", "training loss", "validation loss", "accuracy", "F1"],
        round_floats(
            [
                [e["step"], e["epoch"], e["train_loss"], e["val_loss"], e["val_accuracy"], e["val_f1"]]
                for e in beit_history.evals
            ]
        ),
    )
    ctx.save_json(
        "history",
        round_floats(
            {
                "mlp": mlp_history.evals,
                "cnn": cnn_history.evals,
                "beit": beit_history.evals,
                "timing": {"mlp": mlp_history.timing, "cnn": cnn_history.timing, "beit": beit_history.timing},
            }
        ),
    )
    for r in (mlp_test, beit_test):
        r["per_class"] = {k: dict(zip(CLASSES, v)) for k, v in r["per_class"].items()}
    steps_by_size = dict(Counter(c.image_size_at(step) for step in range(1, c.steps + 1)))
    phases = beit_history.timing["phases"]
    return round_floats(
        {
            "data": {
                "source": data.source,
                "train": len(train.y),
                "val": len(val.y),
                "test": len(data.y_test),
            },
            "mlp": {
                "parameters": mlp_models.PARAMETERS,
                "epochs": config.mlp.epochs,
                "steps": len(mlp_history.step),
                "final_lr": final_lr,
                "train": split_metrics(mlp_history.last(), "train"),
                "validation": split_metrics(mlp_history.last(), "val"),
                "test": mlp_test,
                "threads": config.mlp.threads,
                "timing": {"train_s": mlp_history.timing["train_s"]},
            },
            "beit": {
                "parameters": beit_models.count_parameters(beit_model),
                "pretrained": c.pretrained or "",
                "from_scratch": not c.pretrained,
                "bf16": ctx.precision == "bf16",
                "precision": ctx.precision,
                "compiled": c.compile,
                "stem": c.stem,
                "steps": c.steps,
                "epochs": c.steps * c.batch_size / len(train.y),
                "low_res_size": c.low_res_size or 0,
                "low_res_steps": c.low_res_steps if c.low_res_size else 0,
                "steps_by_size": steps_by_size,
                "image_size": c.image_size,
                "patch_size": c.patch_size,
                "tokens": (c.image_size // c.patch_size) ** 2,
                "hidden_size": c.hidden_size,
                "layers": c.layers,
                "heads": c.heads,
                "mlp_ratio": c.mlp_ratio,
                "batch_size": c.batch_size,
                "lr": c.lr,
                "warmup_steps": c.warmup_steps,
                "threads": config.threads,
                "train": split_metrics(beit_history.last(), "train"),
                "validation": split_metrics(beit_history.last(), "val"),
                "test": beit_test,
                "timing": {
                    "train_s": beit_history.timing["train_s"],
                    "images_per_s": beit_history.timing["items_per_s"],
                    "images_per_s_by_size": {
                        k.removesuffix("px"): v["items_per_s"] for k, v in phases.items()
                    },
                    "compile_s": sum(v["first_step_s"] for v in phases.values()) if c.compile else 0.0,
                },
            },
        }
    )

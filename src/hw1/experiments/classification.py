"""Part 2-3: CIFAR-10 classification with the original report's MLP and with BEiT.

* MLP: exactly the original's Keras model (3072-256-256-10, SGD 0.01, momentum 0.9, Nesterov,
  time-based decay 1e-6 per iteration, batch 32, pixels in [0, 1]).
* BEiT (transformers' BeitForImageClassification):
  - cpu profile: a small BEiT trained from scratch at 32 px within a wall-clock budget
    (AdamW, linear warm-up then cosine decay over the step count estimated from the first steps,
    label smoothing, random crop + flip, bf16 autocast where the CPU has bf16 instructions);
  - gpu profile: the pretrained microsoft/beit-base-patch16-224-pt22k-ft22k fine-tuned at 224 px.

Data: 45,000 train / 5,000 validation (fixed seed) / 10,000 test, all in memory as uint8 tensors;
batches are index slices, augmentation is batched on tensors.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.nn.functional as F

from hw1.data import augment, cifar10
from hw1.errors import ConfigError
from hw1.experiments.base import Context
from hw1.metrics import classification_report, confusion_matrix
from hw1.models import beit as beit_models
from hw1.models import mlp as mlp_models

CLASSES = list(cifar10.CLASSES)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


# ----- configuration ------------------------------------------------------------------------------

@dataclass
class MLPConfig:
    epochs: int = 20
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = True
    decay: float = 1e-6          # Keras' time-based decay, per iteration
    threads: int = 1             # batch 32 is too small to gain from a second thread


@dataclass
class BeitConfig:
    pretrained: str | None = None    # hub id or local folder; None: build a small BEiT from scratch
    image_size: int = 32             # input size (pretrained: images are resized to it)
    patch_size: int = 4
    hidden_size: int = 192
    layers: int = 4
    heads: int = 3
    mlp_ratio: float = 2.0
    drop_path: float = 0.0
    layer_scale: float = 0.1
    stem: str = "patch"              # patch: BEiT's linear patch embedding; conv: two 3x3 stride-2 convs
    batch_size: int = 256
    lr: float = 2e-3
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    betas: tuple = (0.9, 0.999)
    warmup_steps: int = 200
    label_smoothing: float = 0.1
    crop_padding: int = 4
    flip: bool = True
    grad_clip: float = 1.0
    bf16: str | bool = "auto"        # auto: on where the device has bf16 arithmetic
    compile: bool = False            # torch.compile the training forward (its compile time counts
                                     # against the budget; evaluation stays eager)
    budget_s: float = 600.0          # training budget in seconds (evaluation not included)
    budget_clock: str = "wall"       # wall: wall-clock; cpu: process CPU time / threads (equal on an
                                     # idle machine, but immune to other processes sharing the cores)
    max_epochs: float = 100.0        # upper bound on epochs (whichever comes first)
    probe_steps: int = 20            # steps timed per thread count when threads is auto
    low_res_size: int | None = None  # progressive resizing: train at this smaller size first (fewer
    low_res_until: float = 0.0       # tokens, faster steps) until this fraction of the run, then at image_size
    threads: str | int = "auto"      # cpu threads for BEiT; auto: time the run's threads and 1, keep the faster
    eval_batch_size: int = 500
    evals: int = 12                  # validation points along training


@dataclass
class Config:
    seed: int = 0
    split_seed: int = 0
    n_val: int = 5000
    threads: int = 2
    synthetic: bool = False          # smoke: tiny generated data, no files needed
    synthetic_sizes: dict = field(default_factory=lambda: {"train": 400, "test": 200})
    n_samples: int = 16
    sample_seed: int = 1
    sample_px: int = 96
    mlp: MLPConfig = field(default_factory=MLPConfig)
    beit: BeitConfig = field(default_factory=BeitConfig)

    @classmethod
    def from_dict(cls, cfg: dict) -> "Config":
        def build(kind, values, where):
            known = {f.name for f in fields(kind)}
            unknown = set(values) - known
            if unknown:
                raise ConfigError(f"configs/classification.yaml: unknown option(s) "
                                  f"{', '.join(f'{where}{k}' for k in sorted(unknown))}")
            return kind(**values)
        cfg = dict(cfg)
        mlp = build(MLPConfig, cfg.pop("mlp", {}) or {}, "mlp.")
        beit = build(BeitConfig, cfg.pop("beit", {}) or {}, "beit.")
        config = build(cls, cfg, "")
        config.mlp, config.beit = mlp, beit
        return config


# ----- data ---------------------------------------------------------------------------------------

def synthetic(n_train: int, n_test: int, seed: int) -> cifar10.Cifar10:
    """Learnable stand-in for CIFAR-10: each class is a fixed coarse colour pattern plus noise."""
    g = torch.Generator().manual_seed(seed)
    patterns = F.interpolate(torch.rand(10, 3, 4, 4, generator=g), size=32, mode="nearest") * 160

    def make(n):
        y = torch.arange(n) % 10
        x = patterns[y] + torch.rand(n, 3, 32, 32, generator=g) * 95
        return x.clamp(0, 255).to(torch.uint8), y
    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    return cifar10.Cifar10(x_train, y_train, x_test, y_test, source="synthetic")


def normalise(x_u8: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float, (x / 255 - mean) / std per channel."""
    m = torch.tensor(mean, device=x_u8.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x_u8.device).view(1, 3, 1, 1)
    return (x_u8.float() / 255 - m) / s


# ----- evaluation ---------------------------------------------------------------------------------

@torch.no_grad()
def predict(forward, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[float, torch.Tensor]:
    """(mean cross-entropy, predicted labels) over a dataset, in batches. forward: uint8 batch -> logits."""
    total, preds = 0.0, []
    for i in range(0, len(y), batch_size):
        logits = forward(x[i:i + batch_size]).float()
        total += float(F.cross_entropy(logits, y[i:i + batch_size], reduction="sum"))
        preds.append(logits.argmax(1))
    return total / max(len(y), 1), torch.cat(preds)


def report(loss: float, pred: torch.Tensor, y: torch.Tensor) -> tuple[dict, torch.Tensor]:
    confusion = confusion_matrix(pred.cpu(), y.cpu(), len(CLASSES))
    r = classification_report(confusion)
    # On a balanced test set micro-F1 = accuracy (every error is one FP and one FN); kept to show it.
    return {"loss": loss, "accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "micro_f1": r["accuracy"],
            "macro_precision": r["macro_precision"], "macro_recall": r["macro_recall"],
            "per_class": r["per_class"]}, confusion


# ----- MLP ----------------------------------------------------------------------------------------

def mlp_epoch(model, optimizer, scheduler, x: torch.Tensor, y: torch.Tensor, batch_size: int,
              generator: torch.Generator) -> tuple[float, float]:
    """One pass over float tensors x [N, 3072], y [N] in shuffled index slices; (mean loss, accuracy)."""
    model.train()
    order = torch.randperm(len(y), generator=generator)
    loss_sum = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    for i in range(0, len(y), batch_size):
        idx = order[i:i + batch_size]
        xb, yb = x[idx], y[idx]
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(1) == yb).sum()
    return float(loss_sum) / len(y), float(correct) / len(y)


def train_mlp(c: MLPConfig, train: cifar10.Split, val: cifar10.Split, ctx: Context, seed: int) -> dict:
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    if ctx.device == "cpu":
        torch.set_num_threads(c.threads)
    model = mlp_models.MLP()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == mlp_models.PARAMETERS, f"MLP has {n_params} parameters, the original has 855,050"
    optimizer, scheduler = mlp_models.keras_sgd(model, c.lr, c.momentum, c.decay, c.nesterov)
    x = train.x.flatten(1).float().div_(255)    # [N, 3072] in [0, 1], as the original
    x_val = val.x.flatten(1).float().div_(255)
    g = torch.Generator().manual_seed(seed)
    history, start = [], time.perf_counter()
    for epoch in ctx.progress(range(1, c.epochs + 1), desc="MLP epochs"):
        train_loss, train_acc = mlp_epoch(model, optimizer, scheduler, x, train.y, c.batch_size, g)
        model.eval()
        val_loss, val_pred = predict(model, x_val, val.y, 5000)
        history.append({"epoch": epoch, "time_s": time.perf_counter() - start,
                        "train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val_loss,
                        "val_accuracy": float((val_pred == val.y).float().mean())})
    torch.set_num_threads(threads)
    return {"model": model, "history": history, "train_time_s": time.perf_counter() - start,
            "parameters": n_params, "final_lr": scheduler.get_last_lr()[0]}


# ----- BEiT ---------------------------------------------------------------------------------------

def use_bf16(setting, device: str) -> bool:
    if isinstance(setting, bool):
        return setting
    if setting != "auto":
        raise ConfigError(f"configs/classification.yaml: beit.bf16 must be true, false or auto, not {setting!r}")
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    try:  # AMX or AVX512-BF16: bf16 matmuls are faster than fp32; elsewhere they are emulated
        flags = open("/proc/cpuinfo").read()
        return "amx_bf16" in flags or "avx512_bf16" in flags
    except OSError:
        return False


class WarmupCosine:
    """lr = min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2, scaled by (step + 1) / warmup for the
    first `warmup` steps. `progress` in [0, 1] is the fraction of the run done (see train_beit)."""

    def __init__(self, optimizer, lr: float, min_lr: float, warmup: int):
        self.optimizer, self.lr, self.min_lr, self.warmup = optimizer, lr, min_lr, warmup

    def set(self, step: int, progress: float) -> float:
        progress = min(1.0, max(0.0, progress))
        lr = self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))
        if step < self.warmup:
            lr *= (step + 1) / self.warmup
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr


def build_beit(c: BeitConfig):
    if c.pretrained:
        model = beit_models.pretrained(c.pretrained, CLASSES)
        return model, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)   # BEiT's image processor normalisation
    model = beit_models.scratch(len(CLASSES), CLASSES, image_size=c.image_size, patch_size=c.patch_size,
                                hidden_size=c.hidden_size, layers=c.layers, heads=c.heads,
                                mlp_ratio=c.mlp_ratio, drop_path=c.drop_path, layer_scale=c.layer_scale,
                                stem=c.stem)
    return model, CIFAR_MEAN, CIFAR_STD


def train_beit(c: BeitConfig, train: cifar10.Split, val: cifar10.Split, ctx: Context, seed: int) -> dict:
    torch.manual_seed(seed)
    device = ctx.device
    model, mean, std = build_beit(c)
    model.to(device)
    bf16 = use_bf16(c.bf16, device)
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    if c.low_res_size is not None and not (0 < c.low_res_size < c.image_size
                                           and c.low_res_size % c.patch_size == 0):
        raise ConfigError(f"configs/classification.yaml: beit.low_res_size={c.low_res_size} must be "
                          f"smaller than beit.image_size={c.image_size} and a multiple of "
                          f"beit.patch_size={c.patch_size}")
    if not 0.0 <= c.low_res_until <= 1.0:
        raise ConfigError(f"configs/classification.yaml: beit.low_res_until={c.low_res_until} must lie "
                          f"in [0, 1] (a fraction of the run)")

    def prepare(x_u8: torch.Tensor, size: int) -> torch.Tensor:
        x = normalise(x_u8.to(device, non_blocking=True), mean, std)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
        return x

    def forward(x_u8: torch.Tensor, size: int | None = None) -> torch.Tensor:
        # a smaller image gives fewer patch tokens; BEiT's relative position bias table is
        # resampled to the smaller grid, so the same weights serve both sizes
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            return model(pixel_values=prepare(x_u8, size or c.image_size)).logits

    # Compiling fuses the many small element-wise kernels and dtype casts around the matmuls
    # (measured on 2 cores: 390 -> 545 images/s, after about 65 s of compilation). dynamic=False:
    # one specialised graph per image size; a shape-generic graph ran slower than eager here.
    train_forward = torch.compile(forward, dynamic=False) if c.compile else forward

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "position_bias" in name or "token" in name else decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": c.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=c.lr, betas=tuple(c.betas))
    n, bs = len(train.y), c.batch_size
    steps_per_epoch = n // bs                    # drop the last partial batch: constant step time
    max_steps = max(1, int(c.max_epochs * steps_per_epoch))
    schedule = WarmupCosine(optimizer, c.lr, c.min_lr, c.warmup_steps)
    y_val = val.y.to(device)
    g = torch.Generator().manual_seed(seed)

    if c.budget_clock == "cpu" and device_type == "cpu":
        cpu_threads = torch.get_num_threads()
        clock = lambda: time.process_time() / cpu_threads   # noqa: E731
    elif c.budget_clock in ("wall", "cpu"):
        clock = time.perf_counter
    else:
        raise ConfigError(f"configs/classification.yaml: beit.budget_clock must be wall or cpu, "
                          f"not {c.budget_clock!r}")
    step, train_time, wall_time = 0, 0.0, 0.0

    def progress() -> float:
        """The fraction of the run done: of the step cap or of the time budget, whichever is further.
        The learning rate and the image size follow it, so the run fills its budget at whatever speed
        the machine has today, with no step count guessed in advance."""
        return min(1.0, max(step / max_steps, train_time / c.budget_s))

    # thread counts to try (cpu): on a busy machine one thread can beat two (no OpenMP waits)
    max_threads = torch.get_num_threads()
    if device_type != "cpu":
        thread_options = [max_threads]
    elif c.threads == "auto":
        thread_options = sorted({max_threads, 1}, reverse=True)
    else:
        thread_options = [int(c.threads)]
    threads, per_step_by_threads = thread_options[0], {}
    probe_end = 3 + c.probe_steps * len(thread_options) if len(thread_options) > 1 else 0
    # per image size: [steps, seconds, seconds of its first step (compilation when c.compile)]
    by_size: dict[int, list] = {}
    history, next_eval, next_log = [], 1 / max(1, c.evals), 0.1
    window_loss, window_correct, window_n = torch.zeros((), device=device), torch.zeros((), device=device), 0
    order, pos = torch.randperm(n, generator=g), 0
    while progress() < 1.0:
        t0, w0 = clock(), time.perf_counter()
        p = progress()
        size = c.low_res_size if c.low_res_size and p < c.low_res_until else c.image_size
        model.train()
        if pos + bs > n:
            order, pos = torch.randperm(n, generator=g), 0
        idx = order[pos:pos + bs]
        pos += bs
        xb = augment.augment(train.x[idx], c.crop_padding, c.flip, g)
        yb = train.y[idx].to(device, non_blocking=True)
        lr = schedule.set(step, p)
        logits = train_forward(xb, size).float()
        loss = F.cross_entropy(logits, yb, label_smoothing=c.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
        optimizer.step()
        window_loss += loss.detach() * len(idx)
        window_correct += (logits.detach().argmax(1) == yb).sum()
        window_n += len(idx)
        step += 1
        if device_type == "cuda" and (3 <= step <= probe_end or size not in by_size):
            torch.cuda.synchronize()   # honest timings while probing and for first steps
        dt = clock() - t0
        train_time += dt
        wall_time += time.perf_counter() - w0
        phase = by_size.setdefault(size, [0, 0.0, dt])
        phase[0] += 1
        phase[1] += dt

        # thread choice (threads: auto): after 3 warm steps, time `probe_steps` steps per count
        if step == 3 and probe_end:
            probe_mark, probe_i = train_time, 0
            torch.set_num_threads(thread_options[0])
        elif 3 < step <= probe_end and (step - 3) % c.probe_steps == 0:
            per_step_by_threads[thread_options[probe_i]] = (train_time - probe_mark) / c.probe_steps
            probe_mark, probe_i = train_time, probe_i + 1
            if probe_i < len(thread_options):
                torch.set_num_threads(thread_options[probe_i])
            else:
                threads = min(per_step_by_threads, key=per_step_by_threads.get)
                torch.set_num_threads(threads)
                timings = ", ".join(f"{t} thread(s): {bs / v:.0f} images/s" for t, v in per_step_by_threads.items())
                ctx.log(f"BEiT: {timings}; using {threads}")
        p = progress()
        if p >= next_log or p >= 1.0:
            next_log = math.floor(p * 10 + 1e-9) / 10 + 0.1
            ctx.log(f"BEiT step {step} ({p:.0%} of the run, {size} px): loss "
                    f"{float(window_loss) / max(window_n, 1):.3f}, lr {lr:.2e}, {train_time:.0f} s")
        if p >= next_eval or p >= 1.0:
            next_eval = (math.floor(p * c.evals + 1e-9) + 1) / c.evals
            model.eval()
            val_loss, val_pred = predict(forward, val.x, y_val, c.eval_batch_size)
            point = {"step": step, "epoch": step * bs / n, "time_s": train_time, "wall_s": wall_time,
                     "image_size": size, "train_loss": float(window_loss) / window_n,
                     "train_accuracy": float(window_correct) / window_n,
                     "val_loss": val_loss, "val_accuracy": float((val_pred == y_val).float().mean())}
            history.append(point)
            window_loss.zero_(); window_correct.zero_(); window_n = 0

    def speed(size: int) -> float:   # images/s at one size, its first step (compilation) left out
        steps, seconds, first = by_size[size]
        return (steps - 1) * bs / (seconds - first) if steps > 1 else bs / seconds

    return {"model": model, "forward": forward, "history": history, "train_time_s": train_time,
            "train_wall_s": wall_time, "budget_clock": c.budget_clock, "threads": threads,
            "images_per_s_by_threads": {t: bs / v for t, v in per_step_by_threads.items()},
            "steps": step, "epochs": step * bs / n, "bf16": bf16, "compiled": bool(c.compile),
            "first_step_s": by_size[c.low_res_size if c.low_res_size in by_size else c.image_size][2],
            "compile_s": sum(first for _, _, first in by_size.values()),
            "steps_by_size": {size: v[0] for size, v in by_size.items()},
            "images_per_s_by_size": {size: speed(size) for size in by_size},
            "images_per_s": step * bs / max(train_time, 1e-9),
            "parameters": beit_models.count_parameters(model)}


# ----- figures ------------------------------------------------------------------------------------

def plot_curves(history: list[dict], x_key: str, x_label: str, title: str):
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    xs = [h[x_key] for h in history]
    ax_loss.plot(xs, [h["train_loss"] for h in history], "o-", ms=3, label="train")
    ax_loss.plot(xs, [h["val_loss"] for h in history], "s-", ms=3, label="validation")
    ax_acc.plot(xs, [h["train_accuracy"] for h in history], "o-", ms=3, label="train")
    ax_acc.plot(xs, [h["val_accuracy"] for h in history], "s-", ms=3, label="validation")
    ax_loss.set(xlabel=x_label, ylabel="cross-entropy loss", title=f"{title}: loss")
    ax_acc.set(xlabel=x_label, ylabel="accuracy", title=f"{title}: accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion(confusion: torch.Tensor, title: str):
    import matplotlib.pyplot as plt

    c = confusion.numpy()
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    ax.imshow(c, cmap="Blues")
    ax.set_xticks(range(10), CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(10), CLASSES)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    for i in range(10):
        for j in range(10):
            ax.text(j, i, str(c[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if c[i, j] > c.max() / 2 else "black")
    fig.tight_layout()
    return fig


def plot_accuracy_vs_time(mlp_history: list[dict], beit_history: list[dict]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot([h["time_s"] / 60 for h in mlp_history], [h["val_accuracy"] for h in mlp_history],
            "o-", ms=3, label="MLP")
    ax.plot([h["time_s"] / 60 for h in beit_history], [h["val_accuracy"] for h in beit_history],
            "s-", ms=3, label="BEiT")
    ax.set(xlabel="training time (minutes)", ylabel="validation accuracy",
           title="Validation accuracy against training time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def save_samples(ctx: Context, x: torch.Tensor, y: torch.Tensor, pred: torch.Tensor, n: int,
                 seed: int, px: int) -> None:
    """n test images (fixed random choice) as px-wide PNG tiles plus data/samples.json."""
    from PIL import Image

    pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n]
    entries = []
    for k, i in enumerate(pick.tolist()):
        tile = Image.fromarray(x[i].permute(1, 2, 0).numpy()).resize((px, px), Image.NEAREST)
        path = ctx.save_image(np.asarray(tile), f"sample_{k:02d}")
        entries.append({"image": f"figures/{path.name}", "true": CLASSES[int(y[i])],
                        "pred": CLASSES[int(pred[i])]})
    ctx.save_json("samples", entries)


def split_metrics(point: dict, split: str) -> dict:
    """{"loss", "accuracy"} of the last history point for split "train" or "val"."""
    return {"loss": point[f"{split}_loss"], "accuracy": point[f"{split}_accuracy"]}


def round_floats(obj, digits: int = 5):
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [round_floats(v, digits) for v in obj]
    return obj


# ----- the experiment -----------------------------------------------------------------------------

def run(cfg: dict, ctx: Context) -> dict:
    config = Config.from_dict(cfg)
    start = time.perf_counter()
    if ctx.device == "cpu" and config.threads:
        torch.set_num_threads(config.threads)

    if config.synthetic:
        data = synthetic(config.synthetic_sizes["train"], config.synthetic_sizes["test"], config.seed)
        source = "synthetic"
    else:
        data = cifar10.load(ctx.data_root, ctx.cache_dir)
        source = data.source
    train, val = cifar10.train_val_split(data, config.n_val, config.split_seed)
    ctx.log(f"data: {source}, {len(train.y)} train / {len(val.y)} validation / {len(data.y_test)} test")
    load_time = time.perf_counter() - start

    # --- MLP
    m = train_mlp(config.mlp, train, val, ctx, config.seed)
    mlp_model = m["model"].eval()
    loss, pred = predict(mlp_model, data.x_test.flatten(1).float().div_(255), data.y_test, 5000)
    mlp_test, mlp_confusion = report(loss, pred, data.y_test)
    ctx.save_table("mlp_summary", ["layer", "output shape", "parameters"],
                   mlp_models.summary(mlp_model) + [["total", "", m["parameters"]]])
    ctx.save_figure(plot_curves(m["history"], "epoch", "epoch", "MLP"), "mlp_curves")
    ctx.save_figure(plot_confusion(mlp_confusion, "MLP: confusion matrix (test)"), "mlp_confusion")
    ctx.log(f"MLP: test accuracy {mlp_test['accuracy']:.4f}, macro-F1 {mlp_test['macro_f1']:.4f} "
            f"({m['train_time_s']:.0f} s)")

    # --- BEiT
    b = train_beit(config.beit, train, val, ctx, config.seed)
    b["model"].eval()
    y_test = data.y_test.to(ctx.device)
    loss, pred = predict(b["forward"], data.x_test, y_test, config.beit.eval_batch_size)
    pred = pred.cpu()
    beit_test, beit_confusion = report(loss, pred, data.y_test)
    ctx.save_figure(plot_curves(b["history"], "epoch", "epoch", "BEiT"), "beit_curves")
    ctx.save_figure(plot_confusion(beit_confusion, "BEiT: confusion matrix (test)"), "beit_confusion")
    ctx.save_figure(plot_accuracy_vs_time(m["history"], b["history"]), "accuracy_vs_time")
    save_samples(ctx, data.x_test, data.y_test, pred, config.n_samples, config.sample_seed, config.sample_px)
    ctx.log(f"BEiT: test accuracy {beit_test['accuracy']:.4f}, macro-F1 {beit_test['macro_f1']:.4f} "
            f"({b['train_time_s']:.0f} s, {b['images_per_s']:.0f} images/s)")

    # --- tables
    ctx.save_table("per_class", ["class", "MLP precision", "MLP recall", "MLP F1",
                                 "BEiT precision", "BEiT recall", "BEiT F1"],
                   [[name, mlp_test["per_class"]["precision"][i], mlp_test["per_class"]["recall"][i],
                     mlp_test["per_class"]["f1"][i], beit_test["per_class"]["precision"][i],
                     beit_test["per_class"]["recall"][i], beit_test["per_class"]["f1"][i]]
                    for i, name in enumerate(CLASSES)])
    ctx.save_table("test_metrics", ["model", "test loss", "accuracy", "macro-F1", "macro precision",
                                    "macro recall"],
                   [[name, r["loss"], r["accuracy"], r["macro_f1"], r["macro_precision"], r["macro_recall"]]
                    for name, r in (("mlp", mlp_test), ("beit", beit_test))])
    last = b["history"][-1]
    ctx.save_json("history", round_floats({"mlp": m["history"], "beit": b["history"]}))
    for r in (mlp_test, beit_test):
        r["per_class"] = {k: dict(zip(CLASSES, v)) for k, v in r["per_class"].items()}
    total_time = time.perf_counter() - start
    return round_floats({
        "data": {"source": source, "train": len(train.y), "val": len(val.y), "test": len(data.y_test),
                 "load_time_s": load_time},
        "mlp": {"parameters": m["parameters"], "epochs": config.mlp.epochs, "train_time_s": m["train_time_s"],
                "final_lr": m["final_lr"], "train": split_metrics(m["history"][-1], "train"),
                "validation": split_metrics(m["history"][-1], "val"), "test": mlp_test},
        "beit": {"parameters": b["parameters"], "pretrained": config.beit.pretrained or "",
                 "from_scratch": not config.beit.pretrained, "bf16": b["bf16"],
                 "train_time_s": b["train_time_s"], "train_wall_s": b["train_wall_s"],
                 "compiled": b["compiled"], "first_step_s": b["first_step_s"],
                 "budget_clock": b["budget_clock"], "threads": b["threads"],
                 "images_per_s_by_threads": b["images_per_s_by_threads"], "stem": config.beit.stem, "images_per_s": b["images_per_s"], "steps": b["steps"],
                 "epochs": b["epochs"], "budget_s": config.beit.budget_s, "compile_s": b["compile_s"],
                 "low_res_size": config.beit.low_res_size or 0, "low_res_until": config.beit.low_res_until,
                 "steps_by_size": b["steps_by_size"], "images_per_s_by_size": b["images_per_s_by_size"],
                 "image_size": config.beit.image_size, "patch_size": config.beit.patch_size,
                 "tokens": (config.beit.image_size // config.beit.patch_size) ** 2,
                 "hidden_size": config.beit.hidden_size, "layers": config.beit.layers,
                 "heads": config.beit.heads, "mlp_ratio": config.beit.mlp_ratio,
                 "batch_size": config.beit.batch_size, "lr": config.beit.lr,
                 "train": split_metrics(last, "train"), "validation": split_metrics(last, "val"),
                 "test": beit_test},
        "total_time_s": total_time,
        "threads": torch.get_num_threads(),
    })

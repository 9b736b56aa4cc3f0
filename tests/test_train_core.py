"""The training core: one weight-decay rule, step-based schedules, the precision choice, and fit()
giving the same numbers twice."""

from __future__ import annotations

import pytest
import torch

from hw1.errors import ConfigError
from hw1.train import loop
from hw1.train import precision as P
from hw1.train.optim import adamw, cosine_value, param_groups, schedule


def test_no_decay_rule_is_the_same_for_every_beit():
    from hw1.models import beit as beit_models
    from hw1.models.segmentation import build_segmentation_model

    cls = beit_models.scratch(10, hidden_size=32, layers=1, heads=2, patch_size=8)
    seg = build_segmentation_model(
        "beit",
        11,
        {
            "patch_size": 8,
            "image_size": 32,
            "hidden_size": 16,
            "num_hidden_layers": 4,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "out_layers": [1, 2, 3, 4],
            "use_relative_position_bias": True,
            "pool_scales": [1, 2],
        },
    )
    for model in (cls, seg):
        decay, no_decay = param_groups(model, 0.05)
        names = {id(p): n for n, p in model.named_parameters()}
        skipped = [names[id(p)] for p in no_decay["params"]]
        assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.05
        assert any("relative_position_bias_table" in n for n in skipped)
        assert all(p.ndim >= 2 for p in decay["params"])
        assert not any("position" in names[id(p)] or "cls_token" in names[id(p)] for p in decay["params"])
        assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def lr_sequence(kind: str, steps: int, warmup: int, **options) -> list[float]:
    """The learning rate at steps 0..steps of a schedule on a one-parameter SGD with lr 1."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = schedule(opt, kind, steps, warmup, **options)
    lrs = []
    for _ in range(steps + 1):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_cosine_schedule_is_a_function_of_the_step():
    lrs = lr_sequence("cosine", 110, 10, min_lr_ratio=0.1)
    for step in (0, 5, 10, 60, 110):
        assert lrs[step] == pytest.approx(cosine_value(step, 110, 10, 0.1))
    assert lrs[60] == pytest.approx(0.55) and lrs[110] == pytest.approx(0.1)


def test_polynomial_schedule_is_a_function_of_the_step():
    lr = lr_sequence("polynomial", 100, 10, power=1.0)
    assert lr[0] == 0.0 and lr[5] == pytest.approx(0.5) and lr[10] == pytest.approx(1.0)
    assert lr[55] == pytest.approx(0.5, abs=1e-5) and lr[100] == pytest.approx(0.0, abs=1e-5)
    assert lr_sequence("polynomial", 100, 10, power=1.0) == lr


def test_inverse_sqrt_schedule():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = schedule(opt, "inverse_sqrt", 1000, 100)
    for _ in range(400):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx((100 / 400) ** 0.5)


@pytest.mark.parametrize(
    "flags, auto",
    [({"avx2", "amx_bf16"}, "bf16"), ({"avx2", "avx512_bf16"}, "bf16"), ({"avx2", "fma"}, "fp32")],
)
def test_precision_follows_the_cpu(monkeypatch, flags, auto):
    monkeypatch.setattr(P, "cpu_flags", lambda: flags)
    assert P.choose_precision("auto", "cpu") == auto
    assert P.choose_precision("fp32", "cpu") == "fp32"
    if auto == "fp32":  # never forced onto a CPU that would emulate bf16
        with pytest.raises(ConfigError, match="no native bf16"):
            P.choose_precision("bf16", "cpu")
    with pytest.raises(ConfigError, match="expected one of auto, bf16, fp32"):
        P.choose_precision("half", "cpu")


def _tiny_run(steps=12):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    opt = adamw(model, 1e-2, 0.01)
    sched = schedule(opt, "cosine", steps, 2)

    def next_batch(step):
        idx = torch.randperm(64, generator=torch.Generator().manual_seed(step))[:16]
        return x[idx], y[idx]

    def loss_fn(batch):
        logits = model(batch[0])
        return torch.nn.functional.cross_entropy(logits, batch[1]), {
            "acc": (logits.argmax(1) == batch[1]).float().mean()
        }

    evaluate = lambda step: {"val_loss": float(torch.nn.functional.cross_entropy(model(x), y))}  # noqa: E731
    return loop.fit(
        model=model,
        optimizer=opt,
        scheduler=sched,
        steps=steps,
        next_batch=next_batch,
        loss_fn=loss_fn,
        device="cpu",
        eval_every=5,
        evaluate=evaluate,
        phase=lambda s: "a" if s <= 4 else "b",
        items_per_step=16,
        threads=1,
    )


def test_fit_is_deterministic_and_evaluates_on_schedule():
    a, b = _tiny_run(), _tiny_run()
    assert a.train_loss == b.train_loss and a.evals == b.evals
    assert [e["step"] for e in a.evals] == [5, 10, 12]  # every 5 steps and at the end
    assert set(a.evals[0]) == {"step", "train_loss", "train_acc", "val_loss"}
    assert a.timing["phases"]["a"]["steps"] == 4 and a.timing["phases"]["b"]["steps"] == 8
    assert a.evals[-1]["val_loss"] < a.evals[0]["val_loss"] + 1.0


def test_estimate_times_steps_and_leaves_the_run_unchanged():
    from hw1.train import loop

    plain = _tiny_run()
    calls = []
    real_fit = loop.fit

    def fit_after_estimate(**kwargs):
        calls.append(loop.estimate_plan(kwargs))
        return real_fit(**kwargs)

    loop.fit, original = fit_after_estimate, loop.fit
    try:
        again = _tiny_run()
    finally:
        loop.fit = original
    assert calls and calls[0] > 0
    assert again.train_loss == plain.train_loss and again.evals == plain.evals
    with pytest.raises(TypeError):  # explicit parameters: a misspelt argument is an error, not ignored
        loop.estimate(model=None, grad_clipping=1.0)


def test_train_step_leaves_the_numbers_on_the_device():
    """fit() reads losses in one go at evaluations; train_step must not convert them (a sync per step)."""
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss, stats = loop.train_step(
        model, opt, None, torch.ones(2, 3), lambda b: (model(b).pow(2).mean(), {"n": 2}), "cpu", "fp32", None
    )
    assert torch.is_tensor(loss) and not loss.requires_grad and torch.is_tensor(stats["n"])

"""The MLP (exactly the original's), Keras' decay, the BEiT builders and pretrained loading
(on a tiny checkpoint saved locally), the config checks, and a smoke run of the whole experiment."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hw1 import config as C
from hw1.errors import ConfigError
from hw1.experiments import classification as exp
from hw1.experiments.base import Context
from hw1.models import beit as beit_models
from hw1.models import mlp as mlp_models
from hw1.train.batches import epoch_order
from hw1.train.optim import schedule


def smoke_config(**beit) -> exp.Config:
    src = C.read("classification", "smoke")
    src.values["beit"].update(beit)
    return C.build(exp.Config, src)


def context(tmp_path, precision="fp32") -> Context:
    return Context(
        "classification",
        "smoke",
        tmp_path / "out",
        tmp_path,
        "cpu",
        0,
        tmp_path / "cache",
        precision=precision,
        interactive=False,
    )


def test_mlp_is_the_originals_855050_parameters():
    model = mlp_models.MLP()
    assert sum(p.numel() for p in model.parameters()) == 855_050 == mlp_models.PARAMETERS
    assert model(torch.rand(5, 3, 32, 32)).shape == (5, 10)
    rows = mlp_models.summary(model)
    assert [r[1] for r in rows] == ["(None, 256)", "(None, 256)", "(None, 10)"]
    assert [r[2] for r in rows] == [786_688, 65_792, 2_570]


def test_keras_time_based_decay():
    model = mlp_models.MLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    sched = schedule(opt, "keras_time_decay", 1000, decay=1e-3)
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["lr"] == pytest.approx(0.01)
    for _ in range(500):
        opt.step()
        sched.step()
    assert group["lr"] == pytest.approx(0.01 / (1 + 1e-3 * 500))


def test_mlp_learns_synthetic_data(tmp_path):
    data = exp.cifar10.synthetic(300, 10, seed=0)
    split = exp.cifar10.Split(data.x_train, data.y_train)
    torch.manual_seed(0)
    c = exp.MLPConfig(epochs=4, batch_size=32)
    model, history, final_lr = exp.train_mlp(c, split, split, context(tmp_path))
    per_epoch = math.ceil(300 / 32)  # Keras keeps the last, smaller batch
    assert len(history.step) == 4 * per_epoch and [e["step"] for e in history.evals] == [
        per_epoch * k for k in (1, 2, 3, 4)
    ]
    assert history.evals[-1]["train_loss"] < history.evals[0]["train_loss"] * 0.5
    assert history.evals[-1]["val_accuracy"] > 0.9
    assert final_lr == pytest.approx(0.01 / (1 + 1e-6 * 4 * per_epoch))  # one decay step per iteration


def test_epoch_order_depends_on_epoch_and_seed_only():
    assert torch.equal(epoch_order(100, 3, 0), epoch_order(100, 3, 0))
    assert not torch.equal(epoch_order(100, 3, 0), epoch_order(100, 4, 0))
    assert sorted(epoch_order(100, 3, 1).tolist()) == list(range(100))


def test_small_beit_has_relative_bias_and_mean_pooling():
    model = beit_models.scratch(10, list("abcdefghij"), hidden_size=32, layers=2, heads=2, patch_size=8)
    cfg = model.config
    assert (
        cfg.use_relative_position_bias and cfg.use_mean_pooling and not cfg.use_absolute_position_embeddings
    )
    assert model.beit.embeddings.position_embeddings is None
    assert model.beit.layers[0].relative_position_bias.relative_position_bias_table.shape == (7 * 7 + 3, 2)
    assert model(pixel_values=torch.rand(3, 3, 32, 32)).logits.shape == (3, 10)
    conv = beit_models.scratch(10, hidden_size=32, layers=1, heads=2, patch_size=4, stem="conv")
    assert conv(pixel_values=torch.rand(2, 3, 32, 32)).logits.shape == (2, 10)
    with pytest.raises(ConfigError, match="patch_size"):
        beit_models.scratch(10, patch_size=5)


def test_pretrained_from_local_folder_fine_tunes_one_step(tmp_path):
    """A tiny BEiT saved with save_pretrained (as a hub download would be) gets a new 10-way head."""
    saved = beit_models.scratch(
        3, ["x", "y", "z"], image_size=32, hidden_size=32, layers=1, heads=2, patch_size=8
    )
    saved.save_pretrained(tmp_path / "tiny-beit")
    c = exp.BeitConfig(
        pretrained=str(tmp_path / "tiny-beit"),
        image_size=32,
        patch_size=8,
        batch_size=8,
        lr=1e-3,
        warmup_steps=0,
        steps=1,
        eval_every=1,
        eval_batch_size=8,
    )
    data = exp.cifar10.synthetic(16, 8, seed=0)
    train = exp.cifar10.Split(data.x_train[:8], data.y_train[:8])
    val = exp.cifar10.Split(data.x_train[8:], data.y_train[8:])
    before = saved.beit.layers[0].attention.q_proj.weight.detach().clone()
    model, mean, std = exp.build_beit(c)
    forward, history = exp.train_beit(c, model, mean, std, train, val, context(tmp_path))
    assert len(history.step) == 1 and model.config.num_labels == 10
    assert model.config.id2label[3] == "cat"
    after = model.beit.layers[0].attention.q_proj.weight
    assert not torch.equal(after.detach(), before)  # loaded weights, then one update
    assert math.isfinite(history.evals[-1]["val_loss"])


def test_pretrained_offline_fails_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(
        ConfigError,
        match=r"--pretrained classification.beit=no-such-org/beit-x.*hf download no-such-org/beit-x",
    ):
        beit_models.pretrained("no-such-org/beit-x", list("abcdefghij"))
    with pytest.raises(ConfigError, match="no such local folder"):
        beit_models.pretrained(str(tmp_path / "missing"), list("abcdefghij"))


def test_unknown_option_is_named():
    with pytest.raises(
        ConfigError, match=r"configs/classification.yaml: profiles.smoke.beit.widht: unknown option"
    ):
        smoke_config(widht=3)


def test_smoke_run_writes_everything(tmp_path):
    config = smoke_config()
    metrics = exp.run(config, context(tmp_path))
    for model in ("mlp", "beit"):
        test = metrics[model]["test"]
        assert 0 <= test["accuracy"] <= 1 and 0 <= test["macro_f1"] <= 1 and test["loss"] > 0
        assert test["micro_f1"] == test["accuracy"]
        assert metrics[model]["train"]["loss"] > 0 and 0 <= metrics[model]["validation"]["accuracy"] <= 1
        assert "train_s" in metrics[model]["timing"]
    assert metrics["mlp"]["test"]["accuracy"] > 0.5  # the synthetic classes are easy
    assert metrics["mlp"]["parameters"] == 855_050
    out = tmp_path / "out"
    for fig in ("mlp_curves", "mlp_confusion", "beit_curves", "beit_confusion", "accuracy_vs_time"):
        assert all((out / "figures" / f"{fig}.{lang}.svg").is_file() for lang in ("fa", "en"))
    samples = json.loads((out / "data" / "samples.json").read_text())
    assert len(samples) == config.n_samples
    assert all(
        (out / s["image"]).is_file() and s["true"] in exp.CLASSES and s["pred_mlp"] in exp.CLASSES
        for s in samples
    )
    shown = json.loads((out / "data" / "dataset_samples.json").read_text())
    assert [s["true"] for s in shown] == [
        c for c in exp.CLASSES for _ in range(config.dataset_samples_per_class)
    ]
    assert all((out / s["image"]).is_file() for s in shown)
    table = json.loads((out / "tables" / "mlp_summary.json").read_text())
    assert table["rows"][-1] == ["total", "", 855_050]
    # progressive resizing: the first low_res_steps steps at the smaller size, the rest at full size
    beit = metrics["beit"]
    assert beit["low_res_size"] == 16 and beit["steps_by_size"] == {16: 5, 32: 5}
    assert set(beit["timing"]["images_per_s_by_size"]) == {"16", "32"}
    history = json.loads((out / "data" / "history.json").read_text())
    assert [e["image_size"] for e in history["beit"]] == [16, 32]  # evaluated at steps 5 and 10


@pytest.mark.parametrize(
    "option, message",
    [
        (
            {"low_res_size": 20},
            "low_res_size: must be smaller than image_size=32 and a multiple of patch_size=8",
        ),
        ({"low_res_size": 32}, "low_res_size: must be smaller"),
        ({"low_res_steps": 11}, "low_res_steps: must be at most steps=10"),
        ({"steps": 0}, r"steps: expected >= 1, got 0"),
    ],
)
def test_bad_beit_options_are_named(option, message):
    with pytest.raises(ConfigError, match=f"configs/classification.yaml: profiles.smoke.beit.{message}"):
        smoke_config(**option)


def test_cnn_shapes_parameters_and_config_check():
    import torch

    from hw1.config import Invalid
    from hw1.experiments.classification import CNNConfig
    from hw1.models.cnn import CNN, count_parameters

    model = CNN((24, 48, 96, 192))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert count_parameters(model) == 657_144  # the cpu profile's CNN, as the page states it
    with pytest.raises(Invalid, match="widths"):
        CNNConfig(widths=[8, 8, 8]).check()

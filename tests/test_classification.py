"""The MLP (exactly the original's), Keras' decay, the BEiT builders and pretrained loading
(on a tiny checkpoint saved locally), the schedule, and a smoke run of the whole experiment."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from hw1.errors import ConfigError
from hw1.experiments import classification as exp
from hw1.experiments.base import Context
from hw1.models import beit as beit_models
from hw1.models import mlp as mlp_models


def test_mlp_is_the_originals_855050_parameters():
    model = mlp_models.MLP()
    assert sum(p.numel() for p in model.parameters()) == 855_050 == mlp_models.PARAMETERS
    assert model(torch.rand(5, 3, 32, 32)).shape == (5, 10)
    rows = mlp_models.summary(model)
    assert [r[1] for r in rows] == ["(None, 256)", "(None, 256)", "(None, 10)"]
    assert [r[2] for r in rows] == [786_688, 65_792, 2_570]


def test_keras_time_based_decay():
    model = mlp_models.MLP()
    opt, sched = mlp_models.keras_sgd(model, lr=0.01, momentum=0.9, decay=1e-3)
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["lr"] == pytest.approx(0.01)
    for _ in range(500):
        opt.step()
        sched.step()
    assert group["lr"] == pytest.approx(0.01 / (1 + 1e-3 * 500))


def test_mlp_epoch_learns_synthetic_data():
    data = exp.synthetic(300, 10, seed=0)
    x, y = data.x_train.flatten(1).float() / 255, data.y_train
    torch.manual_seed(0)
    model = mlp_models.MLP()
    opt, sched = mlp_models.keras_sgd(model, 0.01, 0.9, 1e-6)
    g = torch.Generator().manual_seed(0)
    first, _ = exp.mlp_epoch(model, opt, sched, x, y, 32, g)
    for _ in range(3):
        last, acc = exp.mlp_epoch(model, opt, sched, x, y, 32, g)
    assert last < first * 0.5 and acc > 0.9
    assert sched.last_epoch == 4 * math.ceil(300 / 32)          # one decay step per iteration


def test_warmup_cosine():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    s = exp.WarmupCosine(opt, lr=1.0, min_lr=0.1, warmup=10)
    assert s.set(0, 0.0) == pytest.approx(0.1) and s.set(9, 0.0) == pytest.approx(1.0)
    assert s.set(60, 0.5) == pytest.approx(0.55) and s.set(110, 1.0) == pytest.approx(0.1)
    assert s.set(200, 1.7) == pytest.approx(0.1)                  # progress is clipped to [0, 1]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_small_beit_has_relative_bias_and_mean_pooling():
    model = beit_models.scratch(10, list("abcdefghij"), hidden_size=32, layers=2, heads=2, patch_size=8)
    cfg = model.config
    assert cfg.use_relative_position_bias and cfg.use_mean_pooling and not cfg.use_absolute_position_embeddings
    assert model.beit.embeddings.position_embeddings is None
    assert model.beit.layers[0].relative_position_bias.relative_position_bias_table.shape == (7 * 7 + 3, 2)
    assert model(pixel_values=torch.rand(3, 3, 32, 32)).logits.shape == (3, 10)
    conv = beit_models.scratch(10, hidden_size=32, layers=1, heads=2, patch_size=4, stem="conv")
    assert conv(pixel_values=torch.rand(2, 3, 32, 32)).logits.shape == (2, 10)
    with pytest.raises(ConfigError, match="patch_size"):
        beit_models.scratch(10, patch_size=5)


def test_pretrained_from_local_folder_fine_tunes_one_step(tmp_path):
    """A tiny BEiT saved with save_pretrained (as a hub download would be) gets a new 10-way head."""
    saved = beit_models.scratch(3, ["x", "y", "z"], image_size=32, hidden_size=32, layers=1, heads=2,
                                patch_size=8)
    saved.save_pretrained(tmp_path / "tiny-beit")
    c = exp.BeitConfig(pretrained=str(tmp_path / "tiny-beit"), image_size=32, batch_size=8,
                       lr=1e-3, warmup_steps=1, budget_s=30, max_epochs=1, probe_steps=1, evals=1,
                       eval_batch_size=8, bf16=False)
    data = exp.synthetic(16, 8, seed=0)
    train = exp.cifar10.Split(data.x_train[:8], data.y_train[:8])
    val = exp.cifar10.Split(data.x_train[8:], data.y_train[8:])
    ctx = Context("classification", "smoke", tmp_path / "out", tmp_path, "cpu", 0, tmp_path / "cache",
                  interactive=False)
    before = saved.beit.layers[0].attention.q_proj.weight.detach().clone()
    result = exp.train_beit(c, train, val, ctx, seed=0)
    model = result["model"]
    assert result["steps"] == 1 and model.config.num_labels == 10
    assert model.config.id2label[3] == "cat"
    after = model.beit.layers[0].attention.q_proj.weight
    assert not torch.equal(after.detach(), before)               # loaded weights, then one update
    assert math.isfinite(result["history"][-1]["val_loss"])


def test_pretrained_offline_fails_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match=r"no-such-org/beit-x.*no network, or not in the local cache"):
        beit_models.pretrained("no-such-org/beit-x", list("abcdefghij"))
    with pytest.raises(ConfigError, match="no such local folder"):
        beit_models.pretrained(str(tmp_path / "missing"), list("abcdefghij"))


def test_unknown_option_is_named():
    with pytest.raises(ConfigError, match="beit.widht"):
        exp.Config.from_dict({"beit": {"widht": 3}})


def test_smoke_run_writes_everything(tmp_path):
    import yaml

    spec = yaml.safe_load(Path("configs/classification.yaml").read_text())
    cfg = {**spec["common"], **spec["profiles"]["smoke"]}
    ctx = Context("classification", "smoke", tmp_path / "out", tmp_path, "cpu", 0, tmp_path / "cache",
                  interactive=False)
    metrics = exp.run(cfg, ctx)
    for model in ("mlp", "beit"):
        test = metrics[model]["test"]
        assert 0 <= test["accuracy"] <= 1 and 0 <= test["macro_f1"] <= 1 and test["loss"] > 0
        assert test["micro_f1"] == test["accuracy"]
        assert metrics[model]["train"]["loss"] > 0 and 0 <= metrics[model]["validation"]["accuracy"] <= 1
    assert metrics["mlp"]["test"]["accuracy"] > 0.5               # the synthetic classes are easy
    assert metrics["mlp"]["parameters"] == 855_050
    out = tmp_path / "out"
    for fig in ("mlp_curves", "mlp_confusion", "beit_curves", "beit_confusion", "accuracy_vs_time"):
        assert (out / "figures" / f"{fig}.svg").is_file()
    samples = json.loads((out / "data" / "samples.json").read_text())
    assert len(samples) == cfg["n_samples"]
    assert all((out / s["image"]).is_file() and s["true"] in exp.CLASSES for s in samples)
    table = json.loads((out / "tables" / "mlp_summary.json").read_text())
    assert table["rows"][-1] == ["total", "", 855_050]
    # progressive resizing: the first half of the steps at the smaller size, the rest at full size
    beit = metrics["beit"]
    assert beit["low_res_size"] == 16 and set(beit["steps_by_size"]) == {16, 32}
    assert beit["steps_by_size"][16] == beit["steps_by_size"][32] == beit["steps"] / 2
    assert beit["epochs"] == pytest.approx(1.0, abs=0.1)          # the smoke run is bounded by max_epochs


@pytest.mark.parametrize("option, message", [({"low_res_size": 20}, "multiple of beit.patch_size"),
                                             ({"low_res_size": 32}, "smaller than beit.image_size"),
                                             ({"low_res_size": 16, "low_res_until": 1.5}, r"\[0, 1\]")])
def test_bad_low_res_options_are_named(tmp_path, option, message):
    c = exp.BeitConfig(hidden_size=32, layers=1, heads=2, patch_size=8, **option)
    data = exp.synthetic(16, 8, seed=0)
    split = exp.cifar10.Split(data.x_train, data.y_train)
    ctx = Context("classification", "smoke", tmp_path / "out", tmp_path, "cpu", 0, tmp_path / "cache",
                  interactive=False)
    with pytest.raises(ConfigError, match=f"low_res.*{message}"):
        exp.train_beit(c, split, split, ctx, seed=0)

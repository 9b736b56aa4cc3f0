"""SegFormer and BEiT builders (from config and from a local checkpoint), the training pieces, and a
smoke run of the experiment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hw1 import config as C
from hw1.errors import ConfigError
from hw1.experiments import segmentation as S
from hw1.experiments import segmentation_eval as E
from hw1.experiments.base import Context
from hw1.models.segmentation import build_segmentation_model, segmentation_logits

TINY = {
    "segformer": {
        "hidden_sizes": [8, 16, 24, 32],
        "depths": [1, 1, 1, 1],
        "num_attention_heads": [1, 1, 1, 1],
        "decoder_hidden_size": 16,
    },
    "beit": {
        "patch_size": 8,
        "image_size": 32,
        "hidden_size": 16,
        "num_hidden_layers": 4,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "out_layers": [1, 2, 3, 4],
        "use_auxiliary_head": False,
        "use_relative_position_bias": True,
        "pool_scales": [1, 2],
    },
}


@pytest.mark.parametrize("arch,stride", [("segformer", 4), ("beit", 2)])
def test_logits_shape_from_config(arch, stride):
    torch.manual_seed(0)
    model = build_segmentation_model(arch, 11, TINY[arch])
    x = torch.randn(2, 3, 32, 48)
    logits = segmentation_logits(model, x)
    # SegFormer decodes at 1/4; BEiT's pyramid upsamples its 1/8 (patch 8) tokens x4 -> 1/2
    assert logits.shape == (2, 11, 32 // stride, 48 // stride)


@pytest.mark.parametrize("arch", ["segformer", "beit"])
def test_pretrained_local_checkpoint_loads_and_trains_one_step(arch, tmp_path):
    torch.manual_seed(0)
    source = build_segmentation_model(arch, 5, TINY[arch])  # a "checkpoint" with 5 classes
    source.save_pretrained(tmp_path / "ckpt")
    model = build_segmentation_model(
        arch, 11, pretrained=str(tmp_path / "ckpt"), class_names=[f"c{i}" for i in range(11)], ignore_index=11
    )
    assert model.config.num_labels == 11 and model.config.id2label[3] == "c3"
    # the encoder weights come from the checkpoint, the classifier is new (11 outputs)
    encoder = "segformer" if arch == "segformer" else "beit"
    src = dict(source.named_parameters())
    for name, p in model.named_parameters():
        if name.startswith(encoder + "."):
            assert torch.equal(p, src[name]), name
    x = torch.randn(2, 3, 32, 32)
    y = torch.randint(0, 12, (2, 32, 32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    logits = F.interpolate(segmentation_logits(model, x), size=(32, 32), mode="bilinear")
    assert logits.shape[1] == 11
    loss = F.cross_entropy(logits, y, ignore_index=11)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_unknown_checkpoint_offline_is_a_clear_config_error():
    code = (
        "from hw1.models.segmentation import build_segmentation_model\n"
        "build_segmentation_model('segformer', 11, pretrained='no-such-org/no-such-segformer')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(S.__file__).resolve().parents[2])},
    )
    assert proc.returncode != 0
    assert "ConfigError" in proc.stderr and "no-such-org/no-such-segformer" in proc.stderr
    assert "hf download no-such-org/no-such-segformer" in proc.stderr
    assert "--pretrained segmentation.segformer=none" in proc.stderr


def test_bad_arch_and_config_are_config_errors():
    with pytest.raises(ConfigError, match="arch"):
        build_segmentation_model("unet", 11)
    with pytest.raises(ConfigError, match="out_layers must name 4 layers in 1..4"):
        build_segmentation_model("beit", 11, {**TINY["beit"], "out_layers": [1, 2]})
    with pytest.raises(ConfigError, match="out_layers must name 4 layers in 1..4"):
        build_segmentation_model("beit", 11, {**TINY["beit"], "out_layers": [2, 3, 4, 5]})
    with pytest.raises(ConfigError, match="write out_layers"):
        build_segmentation_model("beit", 11, {**TINY["beit"], "out_indices": [2, 3, 4, 5]})


@pytest.mark.parametrize("layer", [1, 4])
def test_beit_head_is_fed_by_the_configured_layers(layer):
    """Changing the weights of a configured layer (the last one included) changes the logits; with
    transformers' out_indices taken as layer numbers, the last layer's work was never read."""
    torch.manual_seed(0)
    model = build_segmentation_model("beit", 11, TINY["beit"]).eval()  # out_layers [1, 2, 3, 4]
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        before = segmentation_logits(model, x)
        for p in model.beit.layers[layer - 1].parameters():
            p.add_(torch.randn_like(p))
        after = segmentation_logits(model, x)
    assert (after - before).abs().max() > 1e-4


def test_median_frequency_weights_by_hand():
    # image 0: 3 px of class 0, 1 px of class 1; image 1: 4 px of class 0. class 2 absent.
    masks = torch.tensor([[[0, 0], [0, 1]], [[0, 0], [0, 0]]], dtype=torch.uint8)
    w = S.class_weights(masks, power=1.0, clip=10.0)
    # f0 = 7/8, f1 = 1/4 (its pixels over the pixels of images where it occurs); median of (7/8, 1/4)
    f0, f1 = 7 / 8, 1 / 4
    median = torch.tensor([f0, f1]).median().item()  # torch takes the lower middle: 1/4
    assert w[0].item() == pytest.approx(median / f0) and w[1].item() == pytest.approx(median / f1)
    assert w[2].item() == 10.0  # absent: clipped
    assert S.class_weights(masks, power=0.5, clip=10.0)[0].item() == pytest.approx((median / f0) ** 0.5)


def smoke_config(**segformer) -> S.Config:
    src = C.read("segmentation", "smoke")
    src.values["models"]["segformer"].update(segformer)
    return C.build(S.Config, src)


def test_pixel_loss_at_input_and_at_logits_resolution():
    torch.manual_seed(0)
    logits = torch.randn(2, 11, 2, 3)
    masks = torch.randint(0, 11, (2, 8, 12))
    masks[0, 2, 2] = S.IGNORE_INDEX  # a sampled centre that must stay ignored
    weight = torch.rand(11) + 0.5
    # logits: the label at the centre of each 4x4 cell (rows 2 and 6, columns 2, 6 and 10)
    centres = masks[:, 2::4, 2::4]
    expected = F.cross_entropy(logits, centres, weight=weight, ignore_index=S.IGNORE_INDEX)
    assert torch.allclose(S.pixel_loss(logits, masks, weight, "logits"), expected)
    # input: the logits upsampled to the mask
    up = F.interpolate(logits, size=(8, 12), mode="bilinear", align_corners=False)
    expected = F.cross_entropy(up, masks, weight=weight, ignore_index=S.IGNORE_INDEX)
    assert torch.allclose(S.pixel_loss(logits, masks, weight, "input"), expected)
    with pytest.raises(
        ConfigError, match="profiles.smoke.models.segformer.loss_resolution: expected one of input, logits"
    ):
        smoke_config(loss_resolution="half")


@pytest.mark.parametrize(
    "values",
    [
        {"early_train_size": [20, 32]},
        {"early_train_size": [256, 256]},
        {"early_train_size": [128]},
        {"early_steps": -1},
        {"early_steps": 5},
        {"train_size": 32},
    ],
)
def test_bad_crop_options_are_config_errors(values):
    with pytest.raises(
        ConfigError,
        match=rf"^configs/segmentation.yaml: profiles.smoke.models.segformer.{next(iter(values))}: ",
    ):
        smoke_config(**values)


def test_the_issue_example_message(tmp_path):
    text = (Path(__file__).resolve().parents[1] / "configs" / "segmentation.yaml").read_text()
    (tmp_path / "segmentation.yaml").write_text(text.replace("train_size: [192, 256]", "train_size: 32"))
    with pytest.raises(ConfigError) as error:
        C.load(S.Config, "segmentation", "cpu", tmp_path)
    assert str(error.value).endswith(
        "segmentation.yaml: profiles.cpu.models.segformer.train_size: expected [h, w], got 32"
    )


def test_multi_scale_prediction_averages_probabilities_of_all_passes():
    torch.manual_seed(0)
    model = build_segmentation_model("segformer", 11, TINY["segformer"]).eval()
    images = torch.randint(0, 256, (3, 3, 48, 64), dtype=torch.uint8)
    spec = S.ModelSpec(arch="segformer", eval_size=[32, 48])
    cfg = S.Config(models={}, eval_batch_size=2, flip_test=True)
    assert E.scaled_size([24, 32], 1.5) == (40, 48)  # 36x48, rounded to multiples of 8
    assert E.scaled_size([32, 48], 1.5) == (48, 72)

    per_scale = []  # each scale: the sum over the image and its mirror
    with torch.no_grad():
        for size in [(32, 48), (48, 72)]:
            x = E.resize_images(images, size)
            probs = 0.0
            for flipped in (False, True):
                logits = segmentation_logits(model, x.flip(-1) if flipped else x)
                logits = logits.flip(-1) if flipped else logits
                probs = probs + F.interpolate(
                    logits, size=(48, 64), mode="bilinear", align_corners=False
                ).softmax(1)
            per_scale.append(probs)
    # two candidates sharing the scale 1.0: it is run once, and each gets its own prediction
    pred, single = E.predict_each(model, images, spec, cfg, "cpu", "fp32", [[1.0, 1.5], [1.0]])
    assert pred.shape == (3, 48, 64)
    assert torch.equal(pred, (per_scale[0] + per_scale[1]).argmax(1))
    assert torch.equal(single, per_scale[0].argmax(1))
    # one scale differs from two somewhere (otherwise the test would not tell them apart)
    assert not torch.equal(single, pred)
    spec.eval_scales = [1.0, 1.5]
    assert torch.equal(E.predict(model, images, spec, cfg, "cpu", "fp32"), pred)


def test_smoke_run_writes_metrics_and_figures(tmp_path):
    ctx = Context(
        name="segmentation",
        profile="smoke",
        out_dir=tmp_path / "out",
        data_root=tmp_path,
        device="cpu",
        seed=0,
        cache_dir=tmp_path / "cache",
        interactive=False,
    )
    metrics = S.run(smoke_config(), ctx)
    for model in ("segformer", "beit"):
        test = metrics[model]["test"]
        assert 0.0 <= test["miou"] <= 1.0 and 0.0 <= test["pixel_accuracy"] <= 1.0
        assert len(test["per_class_iou"]) == 11 and set(test["per_class"]) == set(S.CLASS_NAMES)
        assert (
            metrics[model]["parameters"] > 0 and metrics[model]["timing"]["inference_images_per_second"] > 0
        )
    # the synthetic scenes are learnable: road is found (at the size the tiny model was trained for)
    assert metrics["segformer"]["test"]["per_class"]["road"] > 0.3
    # the smoke SegFormer chooses its evaluation scales on validation, as the cpu profile does
    choice = metrics["segformer"]["eval_scale_choice"]
    assert [c["scales"] for c in choice] == [[1.0], [1.0, 1.5]]
    best = max(choice, key=lambda c: c["val_miou"])
    assert metrics["segformer"]["settings"]["eval_scales"] == best["scales"]
    assert metrics["segformer"]["val"]["miou"] == best["val_miou"]
    assert metrics["beit"]["eval_scale_choice"] == [] and metrics["beit"]["settings"]["eval_scales"] == [1.0]
    # small crops for the first half of the steps (early_steps 2 of 4), then train_size
    assert metrics["segformer"]["steps"] == 4 and metrics["segformer"]["early_steps"] == 2
    assert metrics["segformer"]["images_seen"] == 32
    assert (
        metrics["beit"]["early_steps"] == 0 and metrics["beit"]["timing"]["early_images_per_second"] is None
    )
    history = json.loads((tmp_path / "out" / "data" / "history_segformer.json").read_text())
    assert [e["step"] for e in history["evals"]] == [2, 4] and [e["images"] for e in history["evals"]] == [
        16,
        32,
    ]
    figures = {p.name for p in (tmp_path / "out" / "figures").iterdir()}
    assert {
        "samples_images.png",
        "samples_ground_truth.png",
        "samples_segformer.png",
        "samples_beit.png",
        "per_class_iou.fa.svg",
        "per_class_iou.en.svg",
        "val_miou.fa.svg",
        "val_miou.en.svg",
    } <= figures
    palette = json.loads((tmp_path / "out" / "data" / "palette.json").read_text())
    assert [p["key"] for p in palette][:2] == ["sky", "building"] and palette[0]["color"] == "#808080"
    table = json.loads((tmp_path / "out" / "tables" / "comparison.json").read_text())
    assert [row[0] for row in table["rows"]] == ["SegFormer", "BEiT"]


def test_equal_schedule_takes_beit_schedule_and_segformer_architecture():
    import yaml

    from hw1.experiments.segmentation import ModelSpec, equal_schedule_spec

    raw = yaml.safe_load((Path(__file__).parents[1] / "configs" / "segmentation.yaml").read_text())
    segformer = ModelSpec(**raw["profiles"]["cpu"]["models"]["segformer"])
    beit = ModelSpec(**raw["profiles"]["cpu"]["models"]["beit"])
    spec = equal_schedule_spec(segformer, beit)
    assert spec.arch == "segformer" and spec.config == segformer.config
    for key in (
        "steps",
        "warmup_steps",
        "lr",
        "weight_decay",
        "batch_size",
        "train_size",
        "eval_size",
        "scale_range",
        "early_train_size",
        "loss_resolution",
        "eval_every",
    ):
        assert getattr(spec, key) == getattr(beit, key), key
    assert raw["profiles"]["cpu"]["equal_schedule"] is True

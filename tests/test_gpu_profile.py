"""The gpu profile, run end to end on the CPU: tiny pretrained checkpoints, a step cap, a strict site.

Tiny BEiT (BeitForImageClassification), SegFormer and BEiT-segmentation checkpoints are saved with
save_pretrained into tmp_path and given to build_results.py with --pretrained; every experiment of
the gpu profile runs with them on the CPU under $HW1_MAX_STEPS (which only shrinks step counts) into a
temporary results folder, and the real pages are built from those results with `mkdocs build --strict`.
The values passed with --set only shrink sizes (BERT's corpus and width, the data sets: synthetic
images, as the smoke profile uses; smaller segmentation images; torch.compile off, whose compilation
alone takes a minute or more on two cores) so that the test takes about a minute or two on two cores;
the code that runs is the gpu profile's: loading the pretrained checkpoints, fine-tuning at 224 px,
the Trainer-style log.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import BIN, ROOT, run_build, statuses

STEPS = 2
# sizes only: the gpu profile's BERT is 20,000 steps of a 4-layer, 256-wide model on the whole corpus
SMALL = [
    "bert.max_documents=60",
    "bert.vocab_size=400",
    "bert.short_len=24",
    "bert.max_len=32",
    "bert.hidden_size=32",
    "bert.num_layers=2",
    "bert.num_heads=2",
    "bert.intermediate_size=64",
    "bert.batch_size=16",
    "bert.eval_batches=1",
    "bert.train_eval_batches=1",
    "bert.controlled.seeds=2",
    "bert.num_masked_examples=3",
    "bert.attention_sentences=['The cat sat on the mat.', ['Where is it?', 'Next to the bridge.']]",
    "classification.synthetic=true",
    "classification.synthetic_sizes={train: 300, test: 100}",
    "classification.n_val=60",
    "classification.n_samples=4",
    "classification.mlp.epochs=1",
    "classification.beit.batch_size=16",
    "classification.beit.eval_batch_size=100",
    "segmentation.synthetic=true",
    "segmentation.synthetic_sizes={train: 8, val: 4, test: 4}",
    "segmentation.n_samples=2",
    "segmentation.eval_batch_size=4",
    "segmentation.models.segformer.batch_size=2",
    "segmentation.models.beit.batch_size=2",
    # smaller images than CamVid's 360x480 (same code), and no torch.compile: on two CPU cores
    # compiling BEiT's training step alone takes a minute or more (benchmarks/gpu_check.sh runs it)
    "segmentation.models.segformer.train_size=[120, 160]",
    "segmentation.models.segformer.eval_size=[120, 160]",
    "segmentation.models.beit.train_size=[160, 224]",
    "segmentation.models.beit.eval_size=[160, 224]",
    "classification.beit.compile=false",
    "attention_scaling.num_queries=256",
]


def save_checkpoints(folder):
    """Tiny random-weight checkpoints in the three formats the gpu profile loads."""
    import torch
    from transformers import (
        BeitConfig,
        BeitForImageClassification,
        BeitForSemanticSegmentation,
        SegformerConfig,
        SegformerForSemanticSegmentation,
    )

    torch.manual_seed(0)
    paths = {}
    beit = dict(
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        use_absolute_position_embeddings=False,
        use_relative_position_bias=True,
    )
    models = {
        "tiny-beit-cls": BeitForImageClassification(
            BeitConfig(image_size=224, use_mean_pooling=True, num_labels=5, **beit)
        ),
        "tiny-segformer": SegformerForSemanticSegmentation(
            SegformerConfig(
                hidden_sizes=[8, 16, 24, 32],
                depths=[1, 1, 1, 1],
                num_attention_heads=[1, 1, 1, 1],
                decoder_hidden_size=16,
                num_labels=5,
            )
        ),
        "tiny-beit-seg": BeitForSemanticSegmentation(
            BeitConfig(
                image_size=640,
                out_indices=[1, 2, 3, 4],
                use_auxiliary_head=False,
                pool_scales=[1, 2],
                num_labels=5,
                **beit,
            )
        ),
    }
    for name, model in models.items():
        model.save_pretrained(folder / name)
        paths[name] = folder / name
    return paths


@pytest.fixture(scope="module")
def gpu_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    ckpt = save_checkpoints(tmp)
    results = tmp / "results"
    args = [
        "--profile",
        "gpu",
        "--device",
        "cpu",
        "--results",
        str(results),
        "--pretrained",
        f"classification.beit={ckpt['tiny-beit-cls']}",
        "--pretrained",
        f"segformer={ckpt['tiny-segformer']}",
        "--pretrained",
        f"segmentation.beit={ckpt['tiny-beit-seg']}",
    ]
    for value in SMALL:
        args += ["--set", value]
    proc = run_build(
        *args, env={"HW1_MAX_STEPS": str(STEPS), "HW1_CACHE_DIR": str(tmp / "cache")}, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(statuses(proc.stdout).values()) == {"ran"}, proc.stdout
    return results, ckpt


def metrics(results, name):
    return json.loads((results / name / "metrics.json").read_text(encoding="utf-8"))


def test_every_experiment_ran_the_gpu_profile_with_the_checkpoints(gpu_results):
    results, ckpt = gpu_results
    for name in ("attention_scaling", "bert", "segmentation", "classification"):
        provenance = json.loads((results / name / "provenance.json").read_text(encoding="utf-8"))
        assert provenance["profile"] == "gpu" and provenance["device"] == "cpu"
    c = metrics(results, "classification")["beit"]
    assert c["pretrained"] == str(ckpt["tiny-beit-cls"]) and not c["from_scratch"]
    assert c["image_size"] == 224 and c["steps"] == STEPS
    s = metrics(results, "segmentation")
    assert s["segformer"]["pretrained"] == str(ckpt["tiny-segformer"])
    assert s["beit"]["pretrained"] == str(ckpt["tiny-beit-seg"])
    assert s["beit"]["architecture"]["hidden_size"] == 32 and s["segformer"]["steps"] == STEPS
    assert metrics(results, "bert")["pretraining"]["steps"] == STEPS
    # the fine-tuning log, as transformers' Trainer prints it
    log = json.loads((results / "classification" / "tables" / "beit_training_log.json").read_text())
    assert log["columns"] == ["step", "epoch", "training loss", "validation loss", "accuracy", "F1"]
    assert [row[0] for row in log["rows"]] == list(range(1, STEPS + 1))


def test_the_site_builds_strictly_with_the_gpu_wording(gpu_results, tmp_path):
    results, ckpt = gpu_results
    site = tmp_path / "site"
    proc = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HW1_RESULTS": str(results), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pages = {
        (lang, page): (site / prefix / page / "index.html").read_text(encoding="utf-8")
        for lang, prefix in (("fa", ""), ("en", "en"))
        for page in ("", "part2-segmentation", "part3-classification")
    }
    fine_tuned = {"en": "fine-tun", "fa": "تنظیم دقیق"}
    for (lang, page), html in pages.items():
        assert fine_tuned[lang] in html, (lang, page)
    for lang in ("fa", "en"):
        classification = pages[lang, "part3-classification"]
        assert "tiny-beit-cls" in classification
        assert "beit_training_log" in classification  # the Trainer-style table
        segmentation = pages[lang, "part2-segmentation"]
        assert "tiny-segformer" in segmentation and "tiny-beit-seg" in segmentation
    en = pages["en", "part3-classification"]
    assert "instead trains a <em>small BEiT from scratch</em>" not in en
    assert "gpu profile" in en
    assert "this profile was not run" not in pages["en", "part2-segmentation"]


# ----- the options, without running anything heavy ------------------------------------------------


def test_step_cap_only_shrinks_step_counts():
    from hw1 import config

    for name in ("bert", "classification", "segmentation", "attention_scaling"):
        full, capped = (
            config.read(name, "gpu", max_steps=None).values,
            config.read(name, "gpu", max_steps=STEPS).values,
        )

        def diff(a, b, path=""):
            if isinstance(a, dict):
                for k in a:
                    yield from diff(a[k], b[k], f"{path}{k}.")
            elif a != b:
                yield path.rstrip("."), a, b

        for key, before, after in diff(full, capped):
            assert key.rsplit(".", 1)[-1] in config.STEP_KEYS and 1 <= after <= min(before, STEPS), key
    cpu = config.read("classification", "cpu", max_steps=100).values["beit"]
    assert cpu["steps"] == 100 and 0 < cpu["low_res_steps"] < 100  # both image sizes still run
    bert = config.read("bert", "cpu", max_steps=100).values
    assert 0 < bert["early_steps"] < bert["steps"] == 100  # both example lengths still run


def test_pretrained_none_selects_the_gpu_from_scratch_recipe():
    from hw1 import config
    from hw1.experiments import classification, segmentation

    src = config.read("classification", "gpu", overrides=(("beit.pretrained", None),))
    beit = config.build(classification.Config, src).beit
    cpu = config.load(classification.Config, "classification", "cpu").beit
    assert beit.pretrained is None and beit.image_size == 32
    assert beit.hidden_size > cpu.hidden_size and beit.steps > cpu.steps
    assert "from_scratch" not in config.read("classification", "gpu").values["beit"]
    src = config.read("segmentation", "gpu", overrides=(("models.segformer.pretrained", None),))
    seg = config.build(segmentation.Config, src).models
    assert seg["segformer"].pretrained is None and seg["segformer"].config["decoder_hidden_size"] == 256
    assert seg["beit"].pretrained == "microsoft/beit-base-finetuned-ade-640-640"
    # a value given on the command line wins over the recipe
    src = config.read(
        "classification", "gpu", overrides=(("beit.pretrained", None), ("beit.hidden_size", 96))
    )
    assert config.build(classification.Config, src).beit.hidden_size == 96


def test_bad_options_are_one_line(tmp_path):
    for args, expected in [
        (
            ["--pretrained", "beit=x"],
            "--pretrained beit: ambiguous, write classification.beit or segmentation.beit",
        ),
        (["--pretrained", "nope=x"], "--pretrained nope: unknown model"),
        (["--set", "bert.steps"], "--set bert.steps: expected EXPERIMENT.KEY=VALUE"),
        (["--max-steps", "0"], "--max-steps 0: expected a positive integer"),
    ]:
        proc = run_build("--profile", "gpu", "--device", "cpu", "--results", str(tmp_path / "r"), *args)
        assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_offline_without_the_checkpoint_one_line_names_the_option_and_hf_download(tmp_path):
    proc = run_build(
        "--profile",
        "gpu",
        "--device",
        "cpu",
        "--only",
        "classification",
        "--results",
        str(tmp_path / "r"),
        "--set",
        "classification.synthetic=true",
        "--set",
        "classification.n_val=50",
        "--pretrained",
        "classification.beit=someone/no-such-beit",
        env={"HF_HUB_OFFLINE": "1", "HW1_MAX_STEPS": "1", "HW1_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    [line] = [l for l in proc.stderr.splitlines() if l.startswith("error: classification:")]
    assert "--pretrained classification.beit=someone/no-such-beit" in line
    assert "hf download someone/no-such-beit" in line and "--pretrained classification.beit=none" in line

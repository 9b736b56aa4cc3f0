"""The device check of the gpu profile (benchmarks/gpu_check.sh runs it): every experiment of the gpu
profile, with full-size random-init models built from configs (BEiT-base-patch16-224, MiT-b0,
BEiT-base at 640 px for segmentation, the gpu profile's BERT), nothing downloaded, a capped number of
steps, into a temporary results folder. Prints and writes as JSON, per experiment: training images/s
(BERT: tokens/s), peak GPU memory, the precision and whether torch.compile ran.

    python benchmarks/gpu_check.py                         # on a CUDA GPU (<= 8 min on one H200)
    python benchmarks/gpu_check.py --device cpu --tiny     # the same path on a CPU, tiny models (a few minutes)

The checkpoints are saved with save_pretrained into the temporary folder and passed to
build_results.py with --pretrained, the step cap with --max-steps: the code that runs is the gpu
profile's. Without a data folder the datasets are the synthetic ones of the smoke profile (sized so
that each batch is full); --data-root uses the real CIFAR-10 and CamVid instead.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ("attention_scaling", "bert", "segmentation", "classification")


def save_checkpoints(folder: Path, tiny: bool) -> dict[str, Path]:
    """Random-init checkpoints: full size from the published architectures' configs, or tiny."""
    import torch
    from transformers import (
        BeitConfig,
        BeitForImageClassification,
        BeitForSemanticSegmentation,
        SegformerConfig,
        SegformerForSemanticSegmentation,
    )

    torch.manual_seed(0)
    if tiny:
        vit = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64)
        mit = dict(
            hidden_sizes=[8, 16, 24, 32],
            depths=[1, 1, 1, 1],
            num_attention_heads=[1, 1, 1, 1],
            decoder_hidden_size=16,
        )
        seg_out, pools = [1, 2, 3, 4], [1, 2]
    else:  # BeitConfig() is BEiT-base (768 wide, 12 layers); SegformerConfig() is MiT-b0
        vit, mit, seg_out, pools = {}, {}, [3, 5, 7, 11], [1, 2, 3, 6]
    common = dict(
        patch_size=16,
        use_absolute_position_embeddings=False,
        use_relative_position_bias=True,
        layer_scale_init_value=0.1,
        **vit,
    )
    models = {
        # microsoft/beit-base-patch16-224-pt22k-ft22k's architecture
        "beit-base-patch16-224": BeitForImageClassification(
            BeitConfig(image_size=224, use_mean_pooling=True, num_labels=10, **common)
        ),
        # nvidia/mit-b0's architecture
        "mit-b0": SegformerForSemanticSegmentation(SegformerConfig(num_labels=11, **mit)),
        # microsoft/beit-base-finetuned-ade-640-640's architecture
        "beit-base-640": BeitForSemanticSegmentation(
            BeitConfig(
                image_size=640,
                out_indices=seg_out,
                use_auxiliary_head=not tiny,
                pool_scales=pools,
                num_labels=11,
                **common,
            )
        ),
    }
    paths = {}
    for name, model in models.items():
        model.save_pretrained(folder / name)
        paths[name] = folder / name
        del model
    return paths


def settings(tiny: bool, real_data: bool) -> list[str]:
    """--set values: data (synthetic unless --data-root) and, with --tiny, BERT's sizes."""
    out = []
    if not real_data:
        out += [
            "classification.synthetic=true",
            "classification.synthetic_sizes={train: 3000, test: 1000}",
            "classification.n_val=500",
            "segmentation.synthetic=true",
            "segmentation.synthetic_sizes={train: 64, val: 16, test: 16}",
        ]
    if tiny:
        out += [
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
            "bert.controlled_tasks=[segment]",
            "classification.mlp.epochs=1",
            "classification.synthetic_sizes={train: 400, test: 100}",
            "classification.n_val=100",
            "classification.beit.batch_size=16",
            "classification.beit.eval_batch_size=100",
            "segmentation.synthetic_sizes={train: 8, val: 4, test: 4}",
            "segmentation.models.segformer.batch_size=2",
            "segmentation.models.beit.batch_size=2",
            "segmentation.eval_batch_size=4",
            "segmentation.n_samples=2",
        ]
    return out


def figures(name: str, folder: Path) -> dict:
    """Speed, precision and compilation from an experiment's metrics.json and provenance.json."""
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    out = {"precision": provenance["precision"], "duration_s": provenance["duration_s"], "compiled": False}
    if name == "classification":
        b = metrics["beit"]
        out.update(
            compiled=bool(b["compiled"]),
            beit_images_per_s=b["timing"]["images_per_s"],
            beit_steps=b["steps"],
            beit_batch_size=b["batch_size"],
            mlp_train_s=metrics["mlp"]["timing"]["train_s"],
        )
    elif name == "segmentation":
        for model in ("segformer", "beit"):
            m = metrics[model]
            out[f"{model}_images_per_s"] = m["timing"]["train_images_per_second"]
            out[f"{model}_inference_images_per_s"] = m["timing"]["inference_images_per_second"]
            out[f"{model}_steps"] = m["steps"]
    elif name == "bert":
        p, config = metrics["pretraining"], provenance["config"]
        per_s = p["timing"]["items_per_s"]
        out.update(
            tokens_per_s=per_s * config["max_len"] if per_s else None,
            sequences_per_s=per_s,
            steps=p["steps"],
            batch_size=config["batch_size"],
            max_len=config["max_len"],
            hidden_size=config["hidden_size"],
            num_layers=config["num_layers"],
        )
    return out


def write(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny models and data (to try the path on a CPU)")
    p.add_argument(
        "--max-steps", type=int, default=None, help="step cap (default: 60 on a GPU, 2 with --tiny)"
    )
    p.add_argument(
        "--data-root", type=Path, default=None, help="real CIFAR-10 and CamVid (default: synthetic)"
    )
    p.add_argument("--only", default=",".join(EXPERIMENTS))
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / ".cache" / "gpu_check.json",
        help="where the JSON report goes (default: .cache/gpu_check.json, outside git)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    import torch

    from hw1.runner import cli

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("gpu_check: CUDA is not available here; use --device cpu --tiny to try the path on the CPU")
        return 2
    steps = args.max_steps or (2 if args.tiny else 60)
    report = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "device_arg": args.device,
        "tiny": args.tiny,
        "max_steps": steps,
        "torch": torch.__version__,
        "experiments": {},
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hw1-gpu-check-") as tmp:
        tmp = Path(tmp)
        ckpt = save_checkpoints(tmp / "checkpoints", args.tiny)
        base = [
            "--profile",
            "gpu",
            "--device",
            args.device,
            "--force",
            "--max-steps",
            str(steps),
            "--pretrained",
            f"classification.beit={ckpt['beit-base-patch16-224']}",
            "--pretrained",
            f"segmentation.segformer={ckpt['mit-b0']}",
            "--pretrained",
            f"segmentation.beit={ckpt['beit-base-640']}",
        ]
        if args.data_root:
            base += ["--data-root", str(args.data_root)]
        for value in settings(args.tiny, args.data_root is not None):
            base += ["--set", value]
        for name in [n for n in args.only.split(",") if n]:
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            results = tmp / f"results-{name}"
            t0 = time.monotonic()
            rc = cli.main(base + ["--only", name, "--results", str(results)])
            entry = {
                "status": "ran" if rc == 0 else f"failed (exit {rc})",
                "wall_s": round(time.monotonic() - t0, 1),
            }
            if rc == 0:
                entry.update(figures(name, results / name))
            entry["peak_gpu_memory_gib"] = (
                round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None
            )
            report["experiments"][name] = entry
            report["total_s"] = round(time.monotonic() - started, 1)
            write(args.out, report)  # after each experiment: a timeout keeps what ran
            if rc == 130:  # interrupted (Ctrl-C, or gpu_check.sh's 8-minute timeout)
                break
    report["total_s"] = round(time.monotonic() - started, 1)
    print("\ngpu check:", report["device"], f"(max {steps} steps per run, {report['total_s']} s in all)")
    for name, e in report["experiments"].items():
        speed = {k: v for k, v in e.items() if k.endswith("_per_s") and v is not None}
        shown = ", ".join(f"{k} {v:,.1f}" for k, v in speed.items())
        memory = f"{e['peak_gpu_memory_gib']} GiB" if e.get("peak_gpu_memory_gib") is not None else "n/a"
        print(
            f"  {name:<18} {e['status']}; {shown or '-'}; peak GPU memory {memory}; "
            f"precision {e.get('precision', '-')}; torch.compile {'yes' if e.get('compiled') else 'no'}"
        )
    write(args.out, report)
    print(f"written: {args.out}")
    return 0 if all(e["status"] == "ran" for e in report["experiments"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

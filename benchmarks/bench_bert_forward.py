"""Forward throughput and peak memory: our BERT vs Hugging Face's BertModel (sdpa), CPU fp32.

Same all-MiniLM-L6-v2 weights and inputs (batch x seq tokens, no padding) for both, inference
mode. Each round times one forward of each model, alternating which goes first; the medians give
the throughputs and the ratio HF time / our time (> 1: ours is faster). Peak memory, two ways: the
peak of the bytes held by tensors during one forward (torch profiler, exact and repeatable), and
the growth of the peak resident set size during one forward in a fresh process per model (Linux
VmHWM, reset just before; includes allocator effects, a few MiB of noise).

The numbers depend on the machine and on what else runs on it, so they are not part of the
experiment's results. Run it alone on the machine (with hw1 installed: pip install -e .), e.g.

    flock /tmp/hw1-cpu.lock .venv/bin/python benchmarks/bench_bert_forward.py --rounds 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from hw1.models.bert_equivalence import _max_diff, load_minilm_pair, minilm_path


def benchmark_inputs(vocab_size: int, batch: int, seq: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, vocab_size, (batch, seq), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


def forward(model, inputs, ours: bool):
    if ours:
        return model(
            inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]
        ).last_hidden_state
    return model(**inputs).last_hidden_state


def peak_tensor_memory_mib(fn) -> float:
    """Peak of the bytes held by tensors that `fn()` allocates (torch profiler, profile_memory=True).

    Every allocation and free of the CPU allocator is an event; the running sum of their sizes in
    time order peaks at the answer. Tensors alive before the call (weights, inputs) are not counted.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    held = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        held += event.self_cpu_memory_usage
        peak = max(peak, held)
    return peak / 2**20


def _proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rss_child(which: str, batch: int, seq: int, threads: int) -> None:
    """In a fresh process: print the peak RSS growth (MiB) during one forward of `which` (ours/hf)."""
    torch.set_num_threads(threads)
    if which == "ours":
        _, hf, model = load_minilm_pair("sdpa")
        del hf
    else:
        import transformers

        model = transformers.BertModel.from_pretrained(minilm_path(), attn_implementation="sdpa").eval()
    inputs = benchmark_inputs(model.config.vocab_size, batch, seq)
    with torch.inference_mode():
        forward(model, benchmark_inputs(model.config.vocab_size, 1, 8), which == "ours")  # thread pools
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
        before = _proc_status_kib("VmRSS")
        forward(model, inputs, which == "ours")
        peak = _proc_status_kib("VmHWM")
    print(json.dumps({"peak_rss_delta_mib": (peak - before) / 1024}))


def peak_rss_delta_mib(which: str, batch: int, seq: int, threads: int) -> float:
    command = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--batch",
        str(batch),
        "--seq",
        str(seq),
        "--threads",
        str(threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"memory measurement for {which} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_delta_mib"]


def benchmark_forward(rounds: int, batch: int, seq: int, threads: int, memory: bool = True) -> dict:
    torch.set_num_threads(threads)
    _, hf, ours = load_minilm_pair("sdpa")
    inputs = benchmark_inputs(hf.config.vocab_size, batch, seq)
    times = {"ours": [], "hf": []}
    models = {"ours": ours, "hf": hf}
    with torch.inference_mode():
        diff = _max_diff(forward(ours, inputs, True), forward(hf, inputs, False))  # also a warm-up
        for r in range(rounds):
            for which in ("ours", "hf") if r % 2 == 0 else ("hf", "ours"):
                start = time.perf_counter()
                forward(models[which], inputs, which == "ours")
                times[which].append(time.perf_counter() - start)
        peak = (
            {
                which: peak_tensor_memory_mib(lambda: forward(models[which], inputs, which == "ours"))
                for which in models
            }
            if memory
            else {}
        )
    ours_t, hf_t = statistics.median(times["ours"]), statistics.median(times["hf"])
    result = {
        "speedup_vs_hf": hf_t / ours_t,
        "ours_seq_per_s": batch / ours_t,
        "hf_seq_per_s": batch / hf_t,
        "ours_median_s": ours_t,
        "hf_median_s": hf_t,
        "ours_times_s": times["ours"],
        "hf_times_s": times["hf"],
        "max_abs_diff": diff,
        "rounds": rounds,
        "batch": batch,
        "seq": seq,
        "threads": threads,
        "torch_version": torch.__version__,
    }
    if memory:
        result["ours_peak_tensor_mib"], result["hf_peak_tensor_mib"] = peak["ours"], peak["hf"]
        result["ours_peak_rss_delta_mib"] = peak_rss_delta_mib("ours", batch, seq, threads)
        result["hf_peak_rss_delta_mib"] = peak_rss_delta_mib("hf", batch, seq, threads)
    return result


def report(r: dict) -> None:
    print(
        f"torch {r['torch_version']}, {r['threads']} threads, batch {r['batch']} x {r['seq']} tokens, "
        f"{r['rounds']} alternating rounds (median)"
    )
    print(f"  ours : {r['ours_median_s'] * 1e3:8.1f} ms  {r['ours_seq_per_s']:7.1f} seq/s")
    print(f"  HF   : {r['hf_median_s'] * 1e3:8.1f} ms  {r['hf_seq_per_s']:7.1f} seq/s")
    print(
        f"  HF time / our time: {r['speedup_vs_hf']:.3f} (above 1: ours is faster)   "
        f"max |ours - HF| = {r['max_abs_diff']:.2e}"
    )
    if "ours_peak_rss_delta_mib" in r:
        print(
            f"  peak tensor memory of one forward (torch profiler): ours {r['ours_peak_tensor_mib']:.1f} MiB, "
            f"HF {r['hf_peak_tensor_mib']:.1f} MiB"
        )
        print(
            f"  peak RSS growth in one forward (fresh process, VmHWM): ours {r['ours_peak_rss_delta_mib']:.1f} "
            f"MiB, HF {r['hf_peak_rss_delta_mib']:.1f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    parser.add_argument("--child", choices=["ours", "hf"], help=argparse.SUPPRESS)  # one RSS measurement
    args = parser.parse_args()
    if args.child:
        peak_rss_child(args.child, args.batch, args.seq, args.threads)
        return
    r = benchmark_forward(args.rounds, args.batch, args.seq, args.threads, memory=not args.no_memory)
    report(r)
    if args.json:
        args.json.write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()

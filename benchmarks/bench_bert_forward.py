"""Forward throughput and peak memory: our BERT vs Hugging Face's BertModel (sdpa), CPU fp32.

Same all-MiniLM-L6-v2 weights and inputs for both; the two models are timed alternately in one
run and the medians compared (see hw1.models.bert_equivalence.benchmark_forward). Run it alone
on the machine, e.g.

    flock /tmp/hw1-cpu.lock .venv/bin/python benchmarks/bench_bert_forward.py --rounds 10
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from hw1.models.bert_equivalence import benchmark_forward  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()

    r = benchmark_forward(args.rounds, args.batch, args.seq, threads=args.threads, memory=not args.no_memory)
    print(f"torch {torch.__version__}, {r['threads']} threads, batch {r['batch']} x {r['seq']} tokens, "
          f"{r['rounds']} alternating rounds (median)")
    print(f"  ours : {r['ours_median_s'] * 1e3:8.1f} ms  {r['ours_seq_per_s']:7.1f} seq/s")
    print(f"  HF   : {r['hf_median_s'] * 1e3:8.1f} ms  {r['hf_seq_per_s']:7.1f} seq/s")
    print(f"  speedup vs HF: {r['speedup_vs_hf']:.3f}x   max |ours - HF| = {r['max_abs_diff']:.2e}")
    if "ours_peak_rss_delta_mib" in r:
        print(f"  peak tensor memory of one forward (torch profiler): ours {r['ours_peak_tensor_mib']:.1f} MiB, "
              f"HF {r['hf_peak_tensor_mib']:.1f} MiB")
        print(f"  peak RSS growth in one forward (fresh process, VmHWM): ours {r['ours_peak_rss_delta_mib']:.1f} "
              f"MiB, HF {r['hf_peak_rss_delta_mib']:.1f} MiB")
    if args.json:
        args.json.write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()

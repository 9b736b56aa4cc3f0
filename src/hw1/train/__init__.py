"""The training core shared by every experiment:

    loop.py       fit(): the one training loop (steps, autocast, clipping, evaluation, timing), History
    optim.py      AdamW parameter groups (one weight-decay rule) and step-based schedules
    precision.py  bf16 or fp32, chosen once from the hardware (no torch import)

Import from the submodules (`from hw1.train.loop import fit`): this package imports nothing, so
that the runner can use precision.py without importing torch.
"""

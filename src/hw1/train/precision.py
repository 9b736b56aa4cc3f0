"""The choice of bf16 or fp32, made once per run and recorded (never assumed).

On a CPU, bf16 pays only with native instructions (AMX or AVX512-BF16: about 1.7x fp32 here);
elsewhere torch emulates it, up to 13x slower than fp32, so `auto` means fp32 there. Detection
reads /proc/cpuinfo and imports no torch (build_results.py --check must start fast); on CUDA it
asks torch.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hw1.errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp32")


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device: str) -> bool:
    """Whether `device` does bf16 arithmetic in hardware."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.is_bf16_supported()
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


def choose_precision(setting: str, device: str, option: str = "precision") -> str:
    """'auto' -> 'bf16' where native, else 'fp32'. An explicit 'bf16' on a device that would emulate
    it is refused: it would silently make a run many times slower."""
    if setting not in PRECISIONS:
        raise ConfigError(f"{option}: expected one of {', '.join(PRECISIONS)}, got {setting!r}")
    if setting == "fp32":
        return "fp32"
    native = native_bf16(device)
    if setting == "bf16" and not native:
        raise ConfigError(
            f"{option}: bf16 requested, but {device} has no native bf16 (no AMX or "
            f"AVX512-BF16): it would be emulated, many times slower; use auto or fp32"
        )
    return "bf16" if native else "fp32"


def autocast(device: str, precision: str):
    """bf16 autocast for 'bf16', a no-op context for 'fp32'."""
    if precision != "bf16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)

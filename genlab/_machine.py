"""What machine a figure was measured on: CPU model, cores, the instruction sets that change
training speed (AVX2, AVX-512, BF16, AMX) and which kernels torch picked.

    >>> from genlab._machine import machine_info
    >>> sorted(machine_info())[:3]
    ['aten_cpu_capability', 'bf16_native_cpu', 'cores']

Benchmarks record `machine_info()` beside every figure: the same run reached 1.55 nats/char
on a CPU with AVX512-BF16 and 2.27 on an AVX2-only one, where bf16 is emulated. Reading it
imports torch only for `torch_cpu_capability` (None when torch is not installed).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["FLAGS", "bf16_native", "bf16_native_cpu", "cpu_flags", "machine_info",
           "torch_cpu_capability"]

# the flags that decide which matrix kernels run, and so how fast and in what precision
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
_CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_field(name: str) -> str | None:
    try:
        text = _CPUINFO.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_flags() -> dict[str, bool]:
    """Whether the CPU has each of `FLAGS` (all False where /proc/cpuinfo is unreadable)."""
    present = set((_cpuinfo_field("flags") or "").split())
    return {flag: flag in present for flag in FLAGS}


def torch_cpu_capability() -> str | None:
    """The kernel set torch dispatches to ("avx512", "avx2", "default", ...), or None."""
    try:
        import torch
    except ImportError:
        return None
    return str(torch.backends.cpu.get_cpu_capability()).lower()


def bf16_native_cpu() -> bool:
    """True when bfloat16 matrix products run natively on this CPU: the CPU has AVX512-BF16
    or AMX-BF16 and torch uses its AVX-512 kernels. `ATEN_CPU_CAPABILITY=avx2` (or
    `default`) makes torch pick kernels without them, so bf16 is then emulated (measured
    ~17x slower than native on an AVX2-only CPU)."""
    flags = cpu_flags()
    if not (flags["avx512_bf16"] or flags["amx_bf16"]):
        return False
    forced = os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if forced in ("avx2", "default", "zvector", "vsx"):
        return False
    capability = torch_cpu_capability()
    return capability is None or capability.startswith("avx512")


def bf16_native(device_type: str) -> bool:
    """Whether bfloat16 autocast runs natively on `device_type` ("cpu" or "cuda")."""
    if device_type == "cuda":
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return device_type == "cpu" and bf16_native_cpu()


def machine_info() -> dict[str, Any]:
    """CPU model, core count, `FLAGS`, torch's CPU capability and `ATEN_CPU_CAPABILITY`
    (None when unset), as JSON types, for a benchmark to store beside its figures."""
    return {
        "cpu_model": _cpuinfo_field("model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "torch_cpu_capability": torch_cpu_capability(),
        "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY"),
        "bf16_native_cpu": bf16_native_cpu(),
    }

"""What a float result depends on besides the code: the CPU kind and the library versions.

The behaviour fingerprint (:mod:`marlpipe.results.fingerprint`) is recorded and compared per CPU
kind and set of versions: the same code gives other last bits on another kind.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

VERSIONED = ("torch", "numpy", "mpe2", "pettingzoo", "vmas")
"""Libraries whose version is part of what a fingerprint was computed with."""


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor is enough
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def cpu_kind() -> str:
    """This machine's CPU kind as far as float results go: architecture, vendor, the SIMD level
    torch dispatches to, and AMX, e.g. ``x86_64-intel-avx512-amx`` or ``x86_64-amd-avx2``."""
    import torch

    info = _cpuinfo()
    vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(
        info.get("vendor_id", ""), (info.get("vendor_id") or platform.processor() or "unknown")
    )
    kind = f"{platform.machine()}-{vendor.lower()}-{torch.backends.cpu.get_cpu_capability()}"
    if "amx_tile" in info.get("flags", "").split():
        kind += "-amx"
    return kind.lower().replace(" ", "_")


def versions() -> dict[str, str]:
    """Python and the :data:`VERSIONED` libraries' versions on this machine."""
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


__all__ = ["VERSIONED", "cpu_kind", "versions"]

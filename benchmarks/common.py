"""What every benchmark records: the machine it ran on and the versions of what it compared."""

from __future__ import annotations

import importlib
import os
import pathlib
import platform

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def machine(*packages: str) -> dict:
    """CPU model, cores, Python, JAX's device, and the versions of ``packages`` (those installed)."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("jax", *packages):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "device": jax.devices()[0].device_kind,
        **versions,
    }

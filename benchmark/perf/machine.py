"""The machine a figure was measured on, timing, memory and GPU-utilisation helpers."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from benchmark.device import resolve_device as _resolve_device

THREAD_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that change torch's CPU threading: recorded, and put in the command."""


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What every figure was measured on."""
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threading_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
        "load_avg_1min_at_start": os.getloadavg()[0],
        "cuda": None,
    }
    try:
        import torchaudio

        info["torchaudio"] = torchaudio.__version__
    except ImportError:  # pragma: no cover - a dependency
        info["torchaudio"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["cuda"] = {
            "device": props.name,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}",
            "cuda_version": torch.version.cuda,
            "bf16": torch.cuda.is_bf16_supported(),
        }
    return info


def resolve_device(name: str) -> torch.device:
    """``perf.device`` as a device of this machine (``auto``: CUDA when available)."""
    return _resolve_device(name, "perf.device")


def resolve_threads(threads: list[int], default: int) -> list[int]:
    """Thread counts with 0 -> ``default``, duplicates dropped, order kept."""
    out: list[int] = []
    for t in threads:
        t = t or default
        if t not in out:
            out.append(t)
    return out


def sync_device(device: torch.device) -> None:
    """Wait for the queued CUDA work of ``device`` (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], *, warmup: int, repeats: int, max_seconds: float,
               device: torch.device, desc: str | None = None) -> list[float]:
    """Seconds per call of ``fn``: ``warmup`` untimed calls, then up to ``repeats`` timed ones
    (fewer once ``max_seconds`` of timed calls have passed; always at least one)."""
    for _ in range(warmup):
        fn()
    sync_device(device)
    times: list[float] = []
    for _ in tqdm(range(repeats), desc=desc, unit="call", leave=False, disable=desc is None):
        start = time.perf_counter()
        fn()
        sync_device(device)
        times.append(time.perf_counter() - start)
        if sum(times) > max_seconds:
            break
    return times


def amp_context(device: torch.device, amp: bool) -> AbstractContextManager[Any]:
    """Autocast to bf16 (fp16 where bf16 is unsupported) on CUDA when ``amp``; else nothing."""
    if device.type != "cuda" or not amp:
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads, then restore the previous count."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# --------------------------------------------------------------------------- memory


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``/proc/self/clear_refs``); False where impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MiB) since start or :func:`reset_peak_rss`.

    ``VmHWM`` of ``/proc/self/status`` (it starts afresh in a spawned process, unlike
    ``getrusage``'s ``ru_maxrss``, which a child inherits from its parent); ``ru_maxrss`` elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def current_rss_mb() -> float | None:
    """Resident memory of this process now (MiB); None where ``/proc`` is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_memory(device: torch.device) -> bool:
    """Reset the peak that :func:`peak_memory_mb` reports; False where it cannot be reset."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    return reset_peak_rss()


def peak_memory_mb(device: torch.device) -> float:
    """``torch.cuda.max_memory_allocated`` on CUDA, the process's peak RSS on CPU (MiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


def memory_note(device: torch.device, per_phase: bool) -> str:
    """How :func:`peak_memory_mb` measured (a column note of the report)."""
    if device.type == "cuda":
        return "cuda max_memory_allocated"
    return "process peak RSS (VmHWM)" + (", reset before each phase" if per_phase else
                                         ", since the process started")


# --------------------------------------------------------------------------- GPU utilisation


def gpu_utilization_reader(device: torch.device) -> tuple[Callable[[], float] | None, str]:
    """A function returning the GPU's busy % now, and its source; ``(None, why)`` where none.

    ``torch.cuda.utilization`` (NVML through ``pynvml``) when it works, else one
    ``nvidia-smi --query-gpu=utilization.gpu`` call per sample; neither on CPU.
    """
    if device.type != "cuda":
        return None, "n/a (CPU)"
    try:
        torch.cuda.utilization(device)
        return (lambda: float(torch.cuda.utilization(device))), "torch.cuda.utilization (NVML)"
    except Exception:  # noqa: BLE001 - no pynvml, or NVML refused: try nvidia-smi
        pass
    return nvidia_smi_reader(device.index or 0)


def nvidia_smi_gpu(index: int) -> str:
    """``nvidia-smi --id`` of torch's CUDA device ``index`` (``CUDA_VISIBLE_DEVICES`` remaps it)."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
               if v.strip()]
    return visible[index] if index < len(visible) else str(index)


def nvidia_smi_reader(index: int) -> tuple[Callable[[], float] | None, str]:
    """One ``nvidia-smi`` call per sample of CUDA device ``index``'s busy %; None where it fails."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None, "n/a (no NVML, no nvidia-smi)"
    command = [smi, f"--id={nvidia_smi_gpu(index)}", "--query-gpu=utilization.gpu",
               "--format=csv,noheader,nounits"]

    def read() -> float:
        out = subprocess.run(command, capture_output=True, text=True, timeout=5, check=True)
        return float(out.stdout.strip().splitlines()[0])

    try:
        read()
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None, "n/a (nvidia-smi failed)"
    return read, "nvidia-smi utilization.gpu"


class GpuBusySampler:
    """Samples the GPU's busy % in a background thread while the ``with`` block runs.

    ``busy_pct(start, end)`` averages the samples taken in a ``time.monotonic()`` window, e.g.
    one training epoch; None where nothing could be read (CPU, no NVML and no nvidia-smi).
    """

    def __init__(self, device: torch.device, interval_s: float = 0.2) -> None:
        self.read, self.source = gpu_utilization_reader(device)
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []  # (monotonic seconds, busy %)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuBusySampler:
        if self.read is not None:
            self._thread = threading.Thread(target=self._run, name="gpu-busy", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        assert self.read is not None
        while not self._stop.is_set():
            with suppress(Exception):  # a failed sample is skipped, never fatal
                self.samples.append((time.monotonic(), self.read()))
            self._stop.wait(self.interval_s)

    def busy_pct(self, start: float, end: float) -> float | None:
        """Mean busy % of the samples taken between ``start`` and ``end`` (monotonic)."""
        values = [pct for t, pct in self.samples if start <= t <= end]
        return sum(values) / len(values) if values else None

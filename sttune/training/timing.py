"""Device-time and peak-memory accounting.

On a GPU the clock synchronises the device before reading a monotonic timer, so queued
kernels are charged to the step that launched them. On a CPU it is the process's CPU time by
default (``train.cpu_clock: process``; time spent waiting for a core is no one's), or a
monotonic wall clock (``wall``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from sttune.api import Span

_PROC_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class DeviceClock:
    """Accumulates device seconds over the ``timed()`` sections only.

    ``cpu_clock="process"`` reads the process's CPU time on a CPU device instead of the wall
    clock: on a shared machine, time spent waiting for a core then counts for no trial, so
    trials run at different loads stay comparable (it sums all torch threads' CPU time).
    ``now`` replaces the time source (seconds, monotonic): tests inject a clock they advance
    by hand, so what is charged can be asserted exactly instead of against a busy machine.
    """

    def __init__(self, device: torch.device, cpu_clock: str = "wall", now: Callable[[], float] | None = None) -> None:
        self.device = device
        self.seconds = 0.0
        self.excluded_seconds = 0.0  # see excluded()
        self._started: float | None = None  # start of the running timed() section
        self._now = now or time_source(device, cpu_clock)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def timed(self) -> Iterator[None]:
        self._sync()
        start = self._started = self._now()
        try:
            yield
        finally:
            self._sync()
            self.seconds += self._now() - start
            self._started = None

    @contextmanager
    def excluded(self) -> Iterator[Span]:
        """Inside a ``timed()`` section: the time spent here goes to ``excluded_seconds``, not
        ``seconds``; the yielded span holds it once the block closes."""
        span, start = Span(), self.elapsed()
        try:
            yield span
        finally:
            span.seconds = self.elapsed() - start
            self.seconds -= span.seconds  # the running section adds it back at its end: net zero
            self.excluded_seconds += span.seconds

    def elapsed(self) -> float:
        """Seconds so far, the running ``timed()`` section included."""
        if self._started is None:
            return self.seconds
        self._sync()
        return self.seconds + self._now() - self._started


def time_source(device: torch.device, cpu_clock: str) -> Callable[[], float]:
    """The timer a DeviceClock reads: process CPU time on a CPU with ``cpu_clock="process"``,
    else a monotonic wall clock (synchronised with the device by the DeviceClock)."""
    return time.process_time if device.type == "cpu" and cpu_clock == "process" else time.perf_counter


def clock_name(device: torch.device, cpu_clock: str, injected: bool = False) -> str:
    """What a run's device seconds were read from, as recorded in its result."""
    if injected:
        return "injected"
    if device.type == "cuda":
        return "cuda-sync"
    return "process" if device.type == "cpu" and cpu_clock == "process" else "wall"


class PeakMemory:
    """Peak memory over a run: CUDA max allocated on a GPU, peak RSS (VmHWM) on a CPU.

    :meth:`reset` starts the training peak; the peak reached before it (the data's preparation,
    which happens before training, and the device copy of the data) is kept in
    ``prepare_peak_bytes``, since the reset erases it from the process's own record.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_peak_rss"
        self.prepare_peak_bytes = 0

    def reset(self) -> None:
        self.prepare_peak_bytes = max(self.prepare_peak_bytes, self.peak_bytes())
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:  # "5" resets the peak RSS on Linux; elsewhere the peak is process-wide
            _CLEAR_REFS.write_text("5")
        except OSError:
            pass

    def peak_bytes(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        try:
            for line in _PROC_STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def resolve_device(name: str) -> torch.device:
    """'auto' → the first CUDA device when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"

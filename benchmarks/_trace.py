"""Kernels and device time per call from a `jax.profiler` trace.

Run each candidate `calls` times inside one trace, then read the XSpace the profiler
wrote. A kernel event is any event carrying an `hlo_module` stat: on a GPU (or TPU) the
kernels and copies on the device planes' streams, on the CPU the XLA thunks (fusions,
copies) that ran on the host's XLA threads; derived summary lines ("XLA Modules",
"XLA Ops") are skipped so that nothing is counted twice. Events are grouped by module,
`jit_<name>`, so each candidate must be jitted under its own name (`_timing.named_jit`).
Where a device's events carry no `hlo_module` (a profiler version that leaves it out), a
candidate's kernels are instead the device events that start inside the host-side
`TraceAnnotation` around its calls (each call blocks, so no other candidate's work is in
flight then); `source` in the result says which rule was used.

Per call: kernels = events / calls; busy time = summed event durations / calls (on a
GPU, the device time of the kernels; on the CPU, thread time, which overlapping thunks
can make larger than wall time). On the CPU a large loop fusion runs as several parallel
tasks, each its own event, so the CPU count is thunk tasks, not comparable with a GPU's
kernel count (`benchmarks.kernel_count` gives the GPU's without a GPU).
"""

import glob
import os
import tempfile
from typing import Callable

import jax


_MARK = "jaxmix-bench:"


def kernel_events(xspace_path: str):
  """From one `.xplane.pb`: (module name -> kernel durations in s, device events as
  (start ns, duration s), annotation name -> (start ns, end ns))."""
  data = jax.profiler.ProfileData.from_file(xspace_path)
  device = [p for p in data.planes if p.name.startswith("/device:")]
  host = [p for p in data.planes if p.name.startswith("/host:")]
  by_module = _events(device)
  if not by_module and not _has_events(device):  # CPU backend: thunks on host threads
    by_module = _events(host)
  timeline = [(e.start_ns, e.duration_ns * 1e-9) for p in device for line in p.lines
              if not line.name.startswith("XLA ") for e in line.events]
  windows = {e.name[len(_MARK):]: (e.start_ns, e.end_ns) for p in host for line in p.lines
             for e in line.events if e.name.startswith(_MARK)}
  return by_module, timeline, windows


def _has_events(planes) -> bool:
  return any(True for p in planes for line in p.lines for _ in line.events)


def _events(planes) -> dict[str, list[float]]:
  out = {}
  for plane in planes:
    for line in plane.lines:
      if line.name.startswith("XLA "):
        continue
      for event in line.events:
        stats = dict(event.stats)
        module = stats.get("hlo_module")
        if module and not event.name.startswith("end: "):
          out.setdefault(str(module), []).append(event.duration_ns * 1e-9)
  return out


def per_call(candidates: dict[str, tuple[str, Callable[[int], None]]],
             calls: int) -> dict[str, dict]:
  """Traces `call(i)` for i < `calls` of each candidate; {name: {kernels, busy_s}}.

  Args:
    candidates: name -> (module name, e.g. "jit_cutmix_elem"; call(i) that runs the op
      once and blocks). Candidates should be warm (compiled) before this.
    calls: calls per candidate inside the trace.
  """
  with tempfile.TemporaryDirectory() as tmp:
    with jax.profiler.trace(tmp):
      for name, (_, call) in candidates.items():
        with jax.profiler.TraceAnnotation(_MARK + name):
          for i in range(calls):
            call(i)
    paths = glob.glob(os.path.join(tmp, "**", "*.xplane.pb"), recursive=True)
    if not paths:
      raise RuntimeError(f"the profiler wrote no .xplane.pb under {tmp}")
    by_module, timeline, windows = kernel_events(max(paths, key=os.path.getmtime))
  out = {}
  for name, (module, _) in candidates.items():
    durations, source = by_module.get(module, []), "hlo_module"
    if not durations and timeline and name in windows:
      lo, hi = windows[name]
      durations = [d for start, d in timeline if lo <= start <= hi]
      source = "window"
    out[name] = {"kernels": len(durations) / calls, "busy_s": sum(durations) / calls,
                 "source": source}
  return out

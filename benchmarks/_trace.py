"""Kernels and device time per call from a `jax.profiler` trace.

Run each candidate `calls` times inside one trace, then read the XSpace the profiler
wrote. A kernel event is any event carrying an `hlo_module` stat: on a GPU (or TPU) the
kernels and copies on the device planes' streams, on the CPU the XLA thunks (fusions,
copies) that ran on the host's XLA threads; derived summary lines ("XLA Modules",
"XLA Ops") are skipped so that nothing is counted twice. Events are grouped by module,
`jit_<name>`, so each candidate must be jitted under its own name (`_timing.named_jit`).

Per call: kernels = events / calls; busy time = summed event durations / calls (on a
GPU, the device time of the kernels; on the CPU, thread time, which overlapping thunks
can make larger than wall time).
"""

import glob
import os
import tempfile
from typing import Callable

import jax


def kernel_events(xspace_path: str) -> dict[str, list[float]]:
  """module name -> durations (s) of its kernel events, from one `.xplane.pb`."""
  data = jax.profiler.ProfileData.from_file(xspace_path)
  device = [p for p in data.planes if p.name.startswith("/device:")]
  by_module = _events(device)
  if not by_module:  # CPU backend: the thunks run on host threads
    by_module = _events([p for p in data.planes if p.name.startswith("/host:")])
  return by_module


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
      for _, call in candidates.values():
        for i in range(calls):
          call(i)
    paths = glob.glob(os.path.join(tmp, "**", "*.xplane.pb"), recursive=True)
    if not paths:
      raise RuntimeError(f"the profiler wrote no .xplane.pb under {tmp}")
    events = kernel_events(max(paths, key=os.path.getmtime))
  out = {}
  for name, (module, _) in candidates.items():
    durations = events.get(module, [])
    out[name] = {"kernels": len(durations) / calls, "busy_s": sum(durations) / calls}
  return out

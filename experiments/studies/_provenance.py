"""Where a result was made (device, CPU model and ISA, host, commit, time), and how it is
written: the part of a result JSON every study runner shares (study.py, cifar_reference.py)."""

from __future__ import annotations

from collections.abc import Mapping
import datetime
import json
import os
import pathlib
import platform
import subprocess
from typing import Any

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def git_commit() -> tuple[str | None, bool]:
  """(HEAD commit, whether the code differs from it) of the checkout that runs the study."""
  try:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "jaxmix", "experiments",
                            ":!experiments/results"], cwd=REPO_ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
    return head, bool(dirty)
  except (OSError, subprocess.CalledProcessError):
    return None, True


# Instruction-set extensions that change the code XLA generates for a CPU (vector width, FMA,
# bfloat16 and matrix units), in /proc/cpuinfo's spelling (x86 "flags", Arm "Features").
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2")


def cpu_info(cpuinfo: str | None = None) -> dict[str, Any]:
  """The host CPU's model and instruction-set extensions (of ISA_FLAGS).

  XLA compiles for the processor it runs on, so a CPU result can differ between machines of the
  "same" kind (e.g. AVX2 vs AVX-512): results record which one made them. `cpuinfo` is the text
  of /proc/cpuinfo (read when None; empty where there is none, e.g. macOS).
  """
  if cpuinfo is None:
    try:
      cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
      cpuinfo = ""
  fields: dict[str, str] = {}
  for line in cpuinfo.splitlines():
    key, sep, value = line.partition(":")
    if sep:
      fields.setdefault(key.strip(), value.strip())   # The first processor's entry.
  flags = set((fields.get("flags") or fields.get("Features") or "").split())
  return {"cpu_model": fields.get("model name") or platform.processor() or platform.machine(),
          "cpu_isa": [f for f in ISA_FLAGS if f in flags]}


def device_info() -> dict[str, Any]:
  """The accelerator (or CPU) a result was made on, with the host CPU's model and ISA."""
  import jax  # Deferred: --list must not initialize a backend.
  device = jax.devices()[0]
  return {"platform": device.platform, "device_kind": device.device_kind,
          "device_count": jax.device_count(), "process_count": jax.process_count(),
          "cpu_count": os.cpu_count(), **cpu_info(), "jax_version": jax.__version__}


def provenance(code_commit: str | None = None) -> dict[str, Any]:
  """Where and when a result was made: device, host, code commit, finish time.

  `code_commit` (a commit named on the command line) wins over the checkout's HEAD: a device
  copy of the tree may carry a stale .git.
  """
  commit, dirty = (code_commit, False) if code_commit else git_commit()
  return {"device": device_info(), "host": platform.node(), "git_commit": commit,
          "git_dirty": dirty,
          "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
              timespec="seconds")}


def write_result(path: pathlib.Path, result: Mapping[str, Any]) -> None:
  """One result JSON, written atomically (a reader never sees half of one)."""
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(".json.tmp")
  tmp.write_text(json.dumps(result, indent=1, sort_keys=True, default=float) + "\n")
  os.replace(tmp, path)

"""Kernels per call of each op on an H100, compiled on a machine without a GPU.

XLA:GPU compiles ahead of time for a device described by a text proto (XLA's
`h100_sxm.txtpb`, shipped in `benchmarks/gpu_specs/`): `jax-cuda12-pjrt` supplies the
compiler, the CUDA toolkit's `ptxas` assembles, and no driver or device is touched. The
optimized HLO then says how many kernels one call launches, whether a `while` loop is
left (on XLA:GPU each iteration copies its predicate to the host and waits), and whether
anything goes to the host.

  JAX_PLATFORMS=cpu python -m benchmarks.kernel_count > docs/bench/kernel_count_h100.txt

`tests/jaxmix/test_kernel_count.py` imports `compile_stats` and asserts per-op budgets.
"""

import dataclasses
import datetime
import functools
import os
import re
import sys

import jax
import jax.numpy as jnp

SPEC = os.path.join(os.path.dirname(__file__), "gpu_specs", "h100_sxm.txtpb")

# Instructions of a control-flow computation that launch nothing: bookkeeping, aliases,
# control flow itself (its bodies are walked), and the second half of async pairs.
_FREE = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "while",
         "conditional", "call", "after-all", "opt-barrier", "add-dependency", "domain"}
# Opcodes that move data between device and host or wait on it.
_HOST_OPS = {"send", "recv", "send-done", "recv-done", "infeed", "outfeed"}
_HOST_TARGETS = re.compile(r"callback|host|MoveToHost|MoveToDevice", re.IGNORECASE)

_COMP = re.compile(r"^(ENTRY )?%?([\w.\-]+) \(.*\) -> .* \{$")
_INSTR = re.compile(r"^\s*(ROOT )?%?([\w.\-]+) = (.+?) ([a-z][a-z0-9\-]*)\((.*)$")
_CALLEES = re.compile(r"\b(body|condition|to_apply|true_computation|false_computation)="
                      r"%?([\w.\-]+)|branch_computations=\{([^}]*)\}|calls=%?([\w.\-]+)")


@dataclasses.dataclass(frozen=True)
class Stats:
  """What one call of a compiled function launches on the GPU target.

  kernels: launches per call, counted statically in the optimized HLO: every instruction
    of the entry computation, and of computations it reaches through control flow
    (`while` body/condition, `conditional` branches, `call`), that is not free
    bookkeeping (parameter, constant, tuple, get-tuple-element, bitcast, control flow
    itself, after-all, opt-barrier) and not the `-done`/`-update` half of an async pair.
    So a `fusion` is one kernel, a `custom-call` (cuBLAS, cuDNN, Triton, sort) one, an
    unfused `copy`, `sort`, `scatter` or collective one each. A while body counts once
    however often it runs (see `while_loops`). Fused computations and reducers are not
    walked: their instructions run inside the kernel that calls them.
  while_loops: `while` instructions in the reachable computations.
  host_transfers: instructions that reach the host: send/recv, infeed/outfeed, host
    callbacks, host offload or any operand in host memory space S(5).
  kinds: kernel opcode -> count (a fusion as "fusion:<kind>").
  """
  kernels: int
  while_loops: int
  host_transfers: int
  kinds: dict


def parse_hlo(text: str) -> Stats:
  """Stats of the optimized HLO module `text` (`compiled.as_text()`)."""
  comps, entry, current = {}, None, None
  for line in text.splitlines():
    m = _COMP.match(line)
    if m:
      current = comps.setdefault(m.group(2), [])
      entry = m.group(2) if m.group(1) else entry
      continue
    if line.strip() == "}":
      current = None
      continue
    if current is not None:
      m = _INSTR.match(line)
      if m:
        current.append((m.group(4), m.group(3), line))
  if entry is None:
    raise ValueError("HLO text has no ENTRY computation")
  kernels, loops, host, kinds = 0, 0, 0, {}
  seen, todo = set(), [entry]
  while todo:
    name = todo.pop()
    if name in seen or name not in comps:
      continue
    seen.add(name)
    for op, shape, line in comps[name]:
      if op == "while":
        loops += 1
      if op in _HOST_OPS or "S(5)" in shape or (
          op == "custom-call" and _HOST_TARGETS.search(_target(line))):
        host += 1
      if op in ("while", "conditional", "call"):
        for m in _CALLEES.finditer(line):
          if m.group(1) in ("body", "condition", "true_computation", "false_computation"):
            todo.append(m.group(2))
          elif m.group(3):
            todo.extend(c.strip().lstrip("%") for c in m.group(3).split(","))
          elif op == "call" and (m.group(4) or m.group(1) == "to_apply"):
            todo.append(m.group(4) or m.group(2))
      if op in _FREE or op.endswith("-done") or op.endswith("-update"):
        continue
      kernels += 1
      kind = op
      if op == "fusion":
        k = re.search(r"kind=(k\w+)", line)
        kind = f"fusion:{k.group(1) if k else '?'}"
      elif op == "custom-call":
        kind = f"custom-call:{_target(line)}"
      kinds[kind] = kinds.get(kind, 0) + 1
  return Stats(kernels, loops, host, dict(sorted(kinds.items())))


def _target(line: str) -> str:
  m = re.search(r'custom_call_target="([^"]*)"', line)
  return m.group(1) if m else ""


def plugin_available() -> bool:
  """Whether the CUDA PJRT plugin (the XLA:GPU compiler) is importable."""
  try:
    import jax_plugins.xla_cuda12  # noqa: F401  (only its presence matters)
  except ImportError:
    return False
  return True


@functools.lru_cache(maxsize=1)
def h100_device():
  """A compile-only H100 device (no GPU needed): XLA:GPU's AOT target."""
  from jax.experimental import topologies
  with open(SPEC) as f:
    config = f.read()
  topo = topologies.get_topology_desc(platform="cuda", topology_name="cuda",
                                      target_config=config, topology="1x1x1")
  return topo.devices[0]


def compile_stats(fn, *args) -> Stats:
  """Compiles `jax.jit(fn)` for the H100 target; `args` are ShapeDtypeStructs or keys."""
  sharding = jax.sharding.SingleDeviceSharding(h100_device())
  specs = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding) for a in args]
  compiled = jax.jit(fn).trace(*specs).lower().compile()
  return parse_hlo(compiled.as_text())


def op_cases(num_classes: int = 1000) -> dict:
  """name -> fn(key, images, labels): every op, batch and elem mode, default options.

  Every case is the op's default path except "cutmix <mode> patch" (`method="patch"`,
  on CUDA the Pallas Triton kernel: one custom call, no while loop).
  """
  import jaxmix  # here, so that parse_hlo stays importable without jaxmix's deps
  c = functools.partial
  k = num_classes
  cases = {}
  for mode in ("batch", "elem"):
    cases[f"cutmix {mode}"] = c(jaxmix.cutmix, num_classes=k, mode=mode)
    cases[f"cutmix {mode} patch"] = c(jaxmix.cutmix, num_classes=k, mode=mode, method="patch")
    cases[f"mixup {mode}"] = c(jaxmix.mixup, num_classes=k, mode=mode)
    cases[f"mixup 3-way {mode}"] = c(jaxmix.mixup, num_classes=k, mode=mode, num_mixed=3,
                                            partner="roll")
    cases[f"cutout {mode}"] = c(jaxmix.cutout, size=8, num_classes=k, mode=mode)
    config = jaxmix.MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=k, mode=mode)
    cases[f"mix {mode}"] = c(jaxmix.mix, config=config)
    for name in ("resizemix", "saliencymix", "fmix", "gridmix", "smoothmix"):
      cases[f"{name} {mode}"] = c(jaxmix.OPS[name], num_classes=k, mode=mode)
  return cases


def op_stats(name: str, shape: tuple, dtype=jnp.float32) -> Stats:
  """Stats of `op_cases()[name]` on images of `shape`, integer labels."""
  fn = op_cases()[name]
  key = jax.random.key(0)
  key_spec = jax.ShapeDtypeStruct(key.shape, key.dtype)
  return compile_stats(fn, key_spec, jax.ShapeDtypeStruct(shape, dtype),
                       jax.ShapeDtypeStruct(shape[:1], jnp.int32))


SHAPES = ((256, 32, 32, 3), (128, 224, 224, 3))


def main():
  if not plugin_available():
    sys.exit("jax-cuda12-pjrt is not installed: pip install -e '.[gpu-compile]'")
  now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  print(f"Kernels per call on {h100_device().device_kind} (XLA:GPU AOT from "
        f"benchmarks/gpu_specs/h100_sxm.txtpb, no GPU), jax {jax.__version__}, {now}")
  print("kernels = fusions + custom calls + other launching instructions of the entry and "
        "control-flow computations (see benchmarks.kernel_count.Stats); float32 images, "
        "int labels, 1000 classes.\n")
  print("| op | shape | kernels | while loops | host transfers | kernel kinds |")
  print("| --- | --- | ---: | ---: | ---: | --- |")
  for name in op_cases():
    for shape in SHAPES:
      try:
        s = op_stats(name, shape)
      except Exception as e:  # one op that cannot compile: say so, go on
        print(f"| {name} | {'x'.join(map(str, shape))} | error: "
              f"{type(e).__name__}: {str(e).splitlines()[0][:100]} | | | |", flush=True)
        continue
      kinds = ", ".join(f"{k} {v}" for k, v in s.kinds.items())
      print(f"| {name} | {'x'.join(map(str, shape))} | {s.kernels} | {s.while_loops} | "
            f"{s.host_transfers} | {kinds} |", flush=True)


if __name__ == "__main__":
  main()

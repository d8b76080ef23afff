"""What every reference-scale plan of issue 19 shares: models, calls of <= 8 minutes, commands.

A plan (claims 5 and 6: `reference_plan`; claims 4 and 8: `shapes_reference`; claim 7:
`segmentation_reference`) is a result set's models, cut in plan order into device calls whose
estimated time on the H200 fits the budget. Every plan's estimate starts from the one
measurement of the lent H200 below and scales it by the model's forward FLOPs per image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
import pathlib
import shlex

from experiments import cifar_reference
from experiments import reference_results

CALL_BUDGET_S = 480.0   # Issue 19: each device call <= 8 minutes.
# Measured on the H200 (cifar_reference_long, 6 models stacked by scan): 60,970 training images
# per second over all models for PreAct-ResNet-18 on 32×32 in bfloat16, batch 256; scan runs the
# models one after another, so per model it is the same at any count (12 models: 52.3 ms per
# step, 6: 25.3). Compiling the scan step took 18-22 s (with a group's eval step, not timed:
# 30 s for both); evaluation is forward only (a third of a step's work).
PREACT32_IMAGES_PER_S, COMPILE_S = 60_970.0, 30.0
# Forward FLOPs per image of PreAct-ResNet-18 on 32×32 (XLA's cost analysis on CPU, 2026-12-03):
# the unit the other models' speeds are scaled by (rate = measured rate × this / their FLOPs).
PREACT32_FLOPS = 0.968e9


def images_per_s(flops_per_image: float, slowdown: float = 1.0) -> float:
  """Training images/s on the H200 of a model with these forward FLOPs per image: the measured
  PreAct-ResNet-18 rate scaled by FLOPs, divided by `slowdown` (a model the measurement does
  not cover well: narrower layers, float32)."""
  return PREACT32_IMAGES_PER_S * PREACT32_FLOPS / flops_per_image / slowdown


@dataclasses.dataclass(frozen=True)
class Model:
  """One run of a result set: a setting (run name without the seed) and a seed."""
  setting: str
  seed: int
  method: str
  overrides: tuple = ()     # (field, value) pairs of mix fields over the method's config.
  tags: tuple = ()          # (tag, value) pairs the report groups by (the seed is added).
  train_size: int = 0       # 0: all training images.

  @property
  def run(self) -> str:
    return f"{self.setting}/seed{self.seed}"


@dataclasses.dataclass(frozen=True)
class Claim:
  name: str                 # The result set (experiments/results/<name>/).
  models: tuple[Model, ...]


def split(models: Sequence[Model], budget_s: float,
          call_seconds: Callable[[Sequence[Model]], float]) -> list[list[Model]]:
  """The models in order, cut into consecutive calls whose estimate fits `budget_s`."""
  calls: list[list[Model]] = [[]]
  for model in models:
    if call_seconds([model]) > budget_s:
      raise ValueError(f"budget_s must fit one model ({call_seconds([model]):.0f} s for "
                       f"{model.run}), got {budget_s}")
    if calls[-1] and call_seconds(calls[-1] + [model]) > budget_s:
      calls.append([])
    calls[-1].append(model)
  return calls if calls[0] else []


def by_seed(models: Sequence[Model]) -> dict[int, list[Model]]:
  """{seed: its models}, in plan order (a call of claims 4, 8 and 7 stacks one seed's models
  at a time)."""
  out: dict[int, list[Model]] = {}
  for model in models:
    out.setdefault(model.seed, []).append(model)
  return out


def missing(models: Sequence[Model], out: pathlib.Path) -> list[Model]:
  """The models whose JSON is not in `out` yet (a rerun trains only these)."""
  return [m for m in models if not (out / reference_results.file_name(m.setting, m.seed)).exists()]


def device_command(claim: str, call: int, name: str, commit: str, data_args=()) -> str:
  """The one-line command of a device call: the call (stopped before the tool's 600 s), then
  every JSON of the result set packed into one file (the reply returns at most 8 files)."""
  plan = shlex.join(["python3", "-m", "experiments.reference_plan", claim, "--call", str(call),
                     *data_args, "--code-commit", commit])
  log = f"$OUT/{claim}_call{call}.log"
  return (f"export PYTHONUNBUFFERED=1; timeout 570 {plan} 2>&1 | tee {log}; "
          f"tar czf $OUT/{name}_call{call}.tgz -C experiments/results {name}")


def train_and_write(claim: Claim, group: Sequence[Model], configs, train, test, info, *,
                    batch_size: int, epochs: int, out: pathlib.Path, command: str,
                    code_commit: str, log: Callable[[str], None], **analyses) -> list:
  """Trains `group` stacked (one scan step) and writes one JSON per model into `out`;
  `analyses` as `reference_results.write_results` (occlusion, localization)."""
  trained = cifar_reference.train_stacked(
      configs, [(m.setting, m.seed) for m in group], train, info,
      batch_size=batch_size, stackings=("scan",), epochs=epochs, log=log)
  return reference_results.write_results(
      trained, configs, info, name=claim.name, out=out,
      tags={m.setting: dict(m.tags) for m in group}, test=test, train=train,
      command=command, code_commit=code_commit, log=log, **analyses)

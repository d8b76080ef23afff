"""Issue 19's reference-scale studies of claims 5 and 6, split into device calls of <= 8 minutes.

Both train PreAct-ResNet-18 on the JPEG CIFAR-10 archive for 85 epochs with the
`cifar_reference_long` recipe (batch 256, peak lr 0.2, bfloat16), whose baseline fits (99.97%
train accuracy) and whose baseline and CutMix (α = 1, p = 0.5) runs, same seeds, are shared:

- claim5 → `data_efficiency_reference`: class-balanced subsets of 5k, 10k and 25k images
  (`registry.subset_indices`) × {baseline, CutMix} × 3 seeds, the same 85 epochs at every
  size; the 50k point is `cifar_reference_long`'s runs (`report.sweeps.EFFICIENCY`).
- claim6 → `aggressive_sampling_reference`: CutMix α ∈ {0.2, 1, 2} × p ∈ {0.5, 1}, and p = 1
  switched off for the last 10% of epochs (8.5), 3 seeds, all 50k images; α = 1, p = 0.5 and
  the baseline are `cifar_reference_long`'s.

Each call trains its models stacked (`train/stacked.py`, `lax.scan` over the models, one
`lax.switch` branch per setting), one training-set size at a time, in one process that decodes
the archive once, and writes one JSON per model (`reference_results`). A call skips the models
whose JSON is already in --out, so rerunning a call after a crash redoes only what is missing.

  python -m experiments.reference_plan claim6 --list       # calls, estimates, device commands
  python -m experiments.reference_plan claim6 --call 2 --archive data_cache/cifar10-jpeg.tar.gz

This module is also the command line of the other plans (`PLANS`): claims 4 and 8
(`shapes_reference`: `claim48`) and claim 7 (`segmentation_reference`: `claim7`), which
generate their data on the device and need no --archive; `device_plan` holds what all share.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import dataclasses
import os
import pathlib
import shlex
import sys

import jax

from experiments import cifar_reference
from experiments import device_plan
from experiments import segmentation_reference
from experiments import shapes_reference
from experiments.device_plan import Claim, Model
from experiments.studies import _provenance

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SEEDS, NUM_TRAIN, NUM_TEST = (0, 1, 2), 50000, 10000
CALL_BUDGET_S = device_plan.CALL_BUDGET_S
# The H200 measurement (device_plan: PreAct-ResNet-18 on 32×32, this plan's model and images);
# decoding the archive took 16.6-21.6 s.
IMAGES_PER_S, DECODE_S, COMPILE_S = (device_plan.PREACT32_IMAGES_PER_S, 22.0,
                                     device_plan.COMPILE_S)
EVAL_IMAGES_PER_S = 3 * IMAGES_PER_S
DEVICE_ARCHIVE = "data_cache/cifar10-jpeg.tar.gz"   # A git-ignored folder that `carry` takes.
RESULT_SETS = {"claim5": "data_efficiency_reference", "claim6": "aggressive_sampling_reference",
               "claim48": shapes_reference.RESULT_SET, "claim7": segmentation_reference.RESULT_SET}


@dataclasses.dataclass(frozen=True)
class Recipe:
  """What every model of both claims shares: cifar_reference_long's (its baseline fits)."""
  epochs: int = 85
  batch_size: int = 256
  learning_rate: float = 0.2
  width: int = 64            # PreAct-ResNet-18's base width.


RECIPE = Recipe()
EPOCHS, BATCH = RECIPE.epochs, RECIPE.batch_size


def claim5(sizes=(25000, 10000, 5000), seeds=SEEDS) -> Claim:
  """Largest size first: the small groups fill a call's end."""
  models = [Model(f"cifar10_{size}/{method}", seed, method,
                  tags=(("method", method), ("dataset", "cifar10_jpeg"), ("train_size", size)),
                  train_size=size)
            for size in sizes for seed in seeds for method in ("baseline", "cutmix")]
  return Claim(RESULT_SETS["claim5"], tuple(models))


def claim6(seeds=SEEDS, recipe: Recipe = RECIPE) -> Claim:
  off = recipe.epochs / 10   # Mixing off for the last 10% of epochs.
  settings = [(f"alpha{a:g}/p{p:g}", a, p, 0.0) for a in (0.2, 1.0, 2.0) for p in (0.5, 1.0)
              if (a, p) != (1.0, 0.5)] + [(f"alpha1/p1/off_last{off:g}", 1.0, 1.0, off)]
  models = [Model(name, seed, "cutmix",
                  overrides=(("cutmix_alpha", a), ("mix_prob", p), ("mix_off_last_epochs", o)),
                  tags=(("method", "cutmix"), ("alpha", a), ("prob", p),
                        ("schedule", f"off for the last {o:g} epochs" if o else "constant")))
            for seed in seeds for name, a, p, o in settings]   # Seed-major: a call per seed.
  return Claim(RESULT_SETS["claim6"], tuple(models))


CLAIMS = {"claim5": claim5, "claim6": claim6}   # The CIFAR-10 plans of this module.


def groups(models) -> dict[int, list[Model]]:
  """{training-set size: its models}: each size is one stacked training (one compiled step)."""
  out: dict[int, list[Model]] = {}
  for model in models:
    out.setdefault(model.train_size, []).append(model)
  return out


def model_seconds(model: Model) -> float:
  """Training plus evaluation (test set and its own training set) of one model, on the H200."""
  n = model.train_size or NUM_TRAIN
  return (EPOCHS * (n // BATCH) * BATCH / IMAGES_PER_S + (n + NUM_TEST) / EVAL_IMAGES_PER_S)


def call_seconds(models) -> float:
  """A call's estimated wall time: decode once, then compile and train each size's group."""
  return DECODE_S + sum(COMPILE_S + sum(map(model_seconds, g)) for g in groups(models).values())


def split(models, budget_s: float = CALL_BUDGET_S) -> list[list[Model]]:
  """The models in order, cut into consecutive calls whose estimate fits `budget_s`."""
  return device_plan.split(models, budget_s, call_seconds)


def run_call(claim: Claim, models, *, archive: str, out: pathlib.Path, command: str,
             code_commit: str | None, recipe: Recipe = RECIPE, log=print) -> list[pathlib.Path]:
  """Trains the `models` of one call whose JSON is not in `out`, one stacked group per size."""
  todo = device_plan.missing(models, out)
  log(f"{claim.name}: {len(models) - len(todo)} of {len(models)} runs of this call done; "
      f"training {len(todo)} (estimate {call_seconds(todo):.0f} s)")
  if not todo:
    return []
  train_all, test, class_names = cifar_reference.read_splits(archive)
  log(f"decoded {len(train_all['label'])} train / {len(test['label'])} test images on "
      f"{jax.devices()[0].device_kind}")
  written = []
  for size, group in groups(todo).items():
    train, test, info = cifar_reference.subset(train_all, test, class_names, size)
    settings = {m.setting: (m.method, dict(m.overrides)) for m in group}
    configs = cifar_reference.setting_configs(
        settings, epochs=recipe.epochs, batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate, train_size=size,
        model_kwargs={"width": recipe.width} if recipe.width != 64 else {})
    written += device_plan.train_and_write(
        claim, group, configs, train, test, info, batch_size=recipe.batch_size,
        epochs=recipe.epochs, out=out, command=command, code_commit=code_commit, log=log,
        occlusion=False)
  return written


@dataclasses.dataclass(frozen=True)
class Plan:
  """A claim's plan as the command line runs it."""
  claim: Callable[[], Claim]
  call_seconds: Callable        # (models) -> estimated seconds of a call on the H200.
  run_call: Callable            # (claim, models, *, out, command, code_commit, log[, archive]).
  archive: bool = False         # Whether a call reads the CIFAR-10 archive (--archive).


PLANS = {"claim5": Plan(claim5, call_seconds, run_call, archive=True),
         "claim6": Plan(claim6, call_seconds, run_call, archive=True),
         "claim48": Plan(shapes_reference.claim48, shapes_reference.call_seconds,
                         shapes_reference.run_call),
         "claim7": Plan(segmentation_reference.claim7, segmentation_reference.call_seconds,
                        segmentation_reference.run_call)}


def planned_runs(result_set: str) -> int:
  """How many runs the plan of this result set has (for the report's "k of n runs done")."""
  claim = {name: key for key, name in RESULT_SETS.items()}[result_set]
  return len(PLANS[claim].claim().models)


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog="python -m experiments.reference_plan",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("claim", choices=sorted(PLANS))
  what = parser.add_mutually_exclusive_group(required=True)
  what.add_argument("--list", action="store_true", help="print the calls and their commands")
  what.add_argument("--call", type=int, help="run call K (1-based) of the plan")
  parser.add_argument("--archive", help="cifar10-jpeg.tar.gz (or its folder); claim5/claim6's "
                                        "--call reads it")
  parser.add_argument("--budget-s", type=float, default=CALL_BUDGET_S,
                      help="estimated seconds per call at the H200's measured speed")
  parser.add_argument("--out", type=pathlib.Path, default=None,
                      help="where the JSONs go (default experiments/results/<result set>)")
  parser.add_argument("--code-commit", default=None,
                      help="commit of this code, recorded instead of the host's git HEAD")
  args = parser.parse_args(argv)
  if args.call is not None and PLANS[args.claim].archive and not args.archive:
    parser.error("--call needs --archive (cifar10-jpeg.tar.gz or its folder)")
  if args.archive and not os.path.exists(args.archive):
    parser.error(f"--archive {args.archive} does not exist")
  return args


def _list(args, plan: Plan, name: str, calls, out: pathlib.Path, log) -> None:
  """Each call: its models (how many done), estimate, and the device tool's invocation."""
  commit, dirty = _provenance.git_commit()
  if dirty:
    log("note: this checkout has uncommitted changes; commit them first, so that "
        "--code-commit names the code that runs")
  data_args = ("--archive", DEVICE_ARCHIVE) if plan.archive else ()
  carry = "carry=['data_cache'], " if plan.archive else ""
  for k, models in enumerate(calls, 1):
    done = len(models) - len(device_plan.missing(models, out))
    log(f"call {k}/{len(calls)}: {len(models)} models ({done} done), estimate "
        f"{plan.call_seconds(models):.0f} s: {', '.join(m.run for m in models)}")
    command = device_plan.device_command(args.claim, k, name, commit, data_args)
    log(f"  run(command={command!r}, {carry}timeout_s=600)")


def main(argv=None, log=print) -> int:
  args = parse_args(argv)
  plan = PLANS[args.claim]
  claim = plan.claim()
  out = args.out or RESULTS / claim.name
  try:
    calls = device_plan.split(claim.models, args.budget_s, plan.call_seconds)
  except ValueError as e:
    raise SystemExit(f"error: --{e}") from None
  if args.list:
    _list(args, plan, claim.name, calls, out, log)
    return 0
  if not 1 <= args.call <= len(calls):
    raise SystemExit(f"error: --call must be in [1, {len(calls)}] for {args.claim} at "
                     f"--budget-s {args.budget_s:g}, got {args.call}")
  command = shlex.join(["python", "-m", "experiments.reference_plan", args.claim, "--call",
                        str(args.call)]
                       + (["--archive", "cifar10-jpeg.tar.gz"] if plan.archive else [])
                       + (["--budget-s", f"{args.budget_s:g}"]
                          if args.budget_s != CALL_BUDGET_S else []))
  data = {"archive": args.archive} if plan.archive else {}
  plan.run_call(claim, calls[args.call - 1], out=out, command=command,
                code_commit=args.code_commit, log=lambda line: log(line, flush=True), **data)
  return 0


if __name__ == "__main__":
  sys.exit(main())

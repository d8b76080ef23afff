"""CIFAR-10 at reference scale on one accelerator: PreAct-ResNet-18, all methods and seeds at once.

Issue 8's GPU study: baseline / Cutout / Mixup / CutMix with the CPU studies' recipe and the
papers' CIFAR settings (`studies._common.method_config`), 3 seeds each, trained on all 50,000
training images of the JPEG-re-encoded CIFAR-10 archive and tested on its 10,000 test images.
The 12 models are stacked on one `jax.vmap` axis, so a single jitted step updates all of them
(each model picks its method's mix with `lax.switch`); that fills one GPU where 12 separate small
runs would not. Same seed = same initialization, batch order, crop/flip and mixing draws.

The host needs jax, flax, optax, numpy, Pillow and ml_collections only (no TFDS or grain: the
archive is decoded here), so it runs on a lent GPU machine. Train step, optimizer, mixing and
analyses are the CPU studies' own: the trainer's stacked mode (`train/stacked.py`: the one
`train_step` with the classification task's `prepare`), `analysis.calibration` /
`occlusion_curves`. Crop + flip run on device (zero padding 4, as `data.pipeline.crop_and_flip`)
with JAX draws instead of the CPU pipeline's NumPy ones. This file is the study around it:
arguments, data (`--train-size`: the CPU studies' class-balanced subset) and `train_stacked`,
which `experiments.reference_plan` (claims 5 and 6) uses too; `experiments.reference_results`
writes the JSONs in the study runner's schema.

  python -m experiments.cifar_reference --archive ../shared/data/cifar10-jpeg.tar.gz --epochs 15
  python -m experiments.main --config experiments/configs/cifar_reference.py \
      --config.archive=../shared/data/cifar10-jpeg.tar.gz --config.epochs=15 --workdir OUT
  python -m experiments.cifar_reference --archive ... --budget-s 300   # the most epochs that fit
  python -m experiments.cifar_reference --archive ... --methods baseline cutmix --budget-s 400 \
      --name cifar_reference_long   # fewer models, more epochs: a separate result set

`--budget-s` times 20 steps after compiling and picks the epochs; each result records them and
the `--epochs` command that reproduces it. Writes one JSON per run (`<method>__seed<k>.json`,
the study runner's schema) to --out. On a lent device whose reply returns only a few files,
pack --out into one archive (`tar czf $OUT/results.tgz -C <out> .`) and keep the printed log:
`experiments.report` completes missing JSONs from a committed `*.log` of the invocation.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shlex
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.data import image_files
from experiments.data import registry
from experiments.train import stacked
from experiments import reference_results
from experiments.studies import _common

STUDY = "cifar_reference"
RESULTS = pathlib.Path(__file__).resolve().parent / "results"
# The fields method_config sets per method, and the mix settings a stacked model may change
# (one `lax.switch` branch each); every other field must be shared by all stacked models.
_MIX_FIELDS = ("mix", "cutout_size", "mixup_alpha", "cutmix_alpha", "mix_prob", "mix_kwargs",
               "cutmix_minmax", "mix_off_last_epochs")


def read_splits(archive: str | os.PathLike):
  """(train arrays, test arrays, class names) of the JPEG archive, all images."""
  splits, class_names = image_files.read_image_folder(
      archive, class_names=image_files.CIFAR10_CLASS_NAMES)
  if "train" not in splits or "test" not in splits:
    raise ValueError(f"--archive {archive} must hold train/ and test/ splits, "
                     f"found {sorted(splits)}")
  return splits["train"], splits["test"], class_names


def subset(train_split, test_split, class_names, train_size: int = 0):
  """(train arrays, test arrays, DatasetInfo): `train_size` > 0 keeps the registry's
  class-balanced subset of that size (the CPU studies' rule: a smaller subset is part of a
  larger one, the same for every seed); mean and std are the kept images'."""
  if 0 < train_size < len(train_split["label"]):
    keep, _ = registry.subset_indices(np.asarray(train_split["label"]), train_size=train_size,
                                      num_classes=len(class_names))
    train_split = {k: v[keep] for k, v in train_split.items()}
  mean, std = image_files.channel_stats(train_split["image"])
  info = registry.DatasetInfo(
      name="cifar10_jpeg", num_classes=len(class_names),
      image_shape=tuple(train_split["image"].shape[1:]), num_train=len(train_split["label"]),
      num_eval=len(test_split["label"]), mean=mean, std=std, class_names=class_names)
  return train_split, test_split, info


def load_cifar(archive: str | os.PathLike, train_size: int = 0):
  """(train arrays, test arrays, DatasetInfo) from the JPEG archive; `train_size` > 0 keeps a
  class-balanced subset of the training images (`subset`)."""
  return subset(*read_splits(archive), train_size)


def method_configs(methods, **kwargs):
  """{method: config}: the CPU studies' recipe on PreAct-ResNet-18 (in bfloat16 by default)."""
  return setting_configs({m: (m, {}) for m in methods}, **kwargs)


def setting_configs(settings, *, epochs: int, batch_size: int, learning_rate: float,
                    train_size: int, model_kwargs: dict | None = None,
                    half_precision: bool = True, dataset: str = "cifar10_jpeg",
                    model: str = "preact_resnet18"):
  """{setting: config} for `settings` {name: (method, mix-field overrides)}, e.g.
  {"alpha2/p1": ("cutmix", {"cutmix_alpha": 2.0, "mix_prob": 1.0})}: the method's config on
  the CPU studies' recipe (`model` on `dataset`: PreAct-ResNet-18 on CIFAR-10, bfloat16, by
  default) with those fields changed."""
  configs = {}
  for name, (method, overrides) in settings.items():
    if set(overrides) - set(_MIX_FIELDS):
      raise ValueError(f"setting {name!r} overrides {sorted(set(overrides) - set(_MIX_FIELDS))}"
                       f"; only the mix fields {_MIX_FIELDS} may differ between stacked models")
    configs[name] = _common.method_config(
        method, dataset=dataset, model=model, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, train_size=train_size,
        half_precision=half_precision, **overrides)
  for config in configs.values():
    config.model_kwargs.update(model_kwargs or {})
  shared = {k: v for k, v in next(iter(configs.values())).to_dict().items()
            if k not in _MIX_FIELDS}
  for m, config in configs.items():
    other = {k: v for k, v in config.to_dict().items() if k not in _MIX_FIELDS}
    if other != shared:   # One optimizer and one model serve every stacked model.
      raise ValueError(f"method {m!r} changes more than the mix fields {_MIX_FIELDS}")
  return configs


def train_stacked(configs, names, train_split, info, *, batch_size: int, stackings,
                  epochs: int | None = None, budget_s: float | None = None,
                  max_epochs: int = 200, log=print) -> reference_results.Trained:
  """Trains the (setting, seed) models `names` stacked, with the fastest of `stackings` after
  a 20-step probe, for `epochs` (or the most whole epochs that fit `budget_s`)."""
  steps_per_epoch = info.num_train // batch_size
  graphdef, eval_graphdef, states, mix_keys, crop_keys, method_ids, names = stacked.init_models(
      configs, info, names)
  images, labels = jnp.asarray(train_split["image"]), jnp.asarray(train_split["label"], jnp.int32)
  idx = jnp.asarray(stacked.epoch_batches(names, 0, info.num_train, batch_size))
  steppers, probes = stacked.probe_stackings(
      configs, info, stackings, graphdef, states,
      (images, labels, crop_keys, mix_keys, method_ids), idx, steps_per_epoch, log=log,
      mix_total_steps=epochs * steps_per_epoch if epochs else None)
  stacking = min(probes, key=lambda k: probes[k]["ms_per_step"])
  epochs = epochs or stacked.choose_epochs(probes[stacking]["ms_per_step"] / 1e3,
                                           steps_per_epoch, budget_s, max_epochs)
  log(f"training with {stacking} for {epochs} epochs")
  t_train = time.perf_counter()
  states, history = stacked.train_epochs(steppers[stacking], states, names, epochs=epochs,
                                         num_train=info.num_train, batch_size=batch_size,
                                         log=log)
  return reference_results.Trained(
      states=states, eval_all=stacked.eval_fn(eval_graphdef, info), names=names,
      history=history, epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
      train_s=time.perf_counter() - t_train, stacking=stacking, probes=probes,
      class_maps_all=stacked.class_maps_fn(eval_graphdef, info))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog="python -m experiments.cifar_reference",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--archive", required=True, help="cifar10-jpeg.tar.gz (or its folder)")
  length = parser.add_mutually_exclusive_group(required=True)
  length.add_argument("--epochs", type=int, help="epochs per model")
  length.add_argument("--budget-s", type=float,
                      help="train for the most whole epochs that fit this many seconds")
  parser.add_argument("--max-epochs", type=int, default=200)
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--methods", nargs="+", default=list(_common.METHODS),
                      choices=_common.METHODS)
  parser.add_argument("--batch-size", type=int, default=256)
  parser.add_argument("--learning-rate", type=float, default=0.2,
                      help="peak; 0.1 per 128 images as in the CPU studies")
  parser.add_argument("--train-size", type=int, default=0,
                      help="a class-balanced subset of this many images (0: all)")
  parser.add_argument("--width", type=int, default=64, help="ResNet base width (64: the reference)")
  parser.add_argument("--stacking", default="auto", choices=("auto",) + stacked.STACKINGS,
                      help="how the models share a step; auto: the faster after 20 steps each")
  parser.add_argument("--test-size", type=int, default=0, help="0: all test images")
  parser.add_argument("--name", default=STUDY,
                      help="the result set's name (its JSONs' study field and report section)")
  parser.add_argument("--out", type=pathlib.Path, default=None,
                      help="where the JSONs go (default experiments/results/<--name>)")
  parser.add_argument("--code-commit", default=None,
                      help="commit of this code, recorded instead of the host's git HEAD "
                           "(a device copy's .git may be stale)")
  args = parser.parse_args(argv)
  try:
    check(args)
  except ValueError as e:
    parser.error(str(e))
  return args


def check(args) -> None:
  """One-line ValueErrors for arguments that cannot run (before any data is read)."""
  if not args.archive:
    raise ValueError("--archive (config.archive) must name cifar10-jpeg.tar.gz or its folder")
  if (args.epochs is None) == (args.budget_s is None):
    raise ValueError(f"give exactly one of --epochs / --budget-s (config.epochs / "
                     f"config.budget_s > 0), got {args.epochs} / {args.budget_s}")
  for name in ("epochs", "budget_s", "batch_size", "max_epochs"):
    if getattr(args, name) is not None and getattr(args, name) <= 0:
      raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
  if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
    raise ValueError(f"--seeds must be distinct and >= 0, got {args.seeds}")
  if not os.path.exists(args.archive):
    raise ValueError(f"--archive {args.archive} does not exist")
  if not re.fullmatch(r"[a-z0-9_]+", args.name):
    raise ValueError(f"--name must be lowercase letters, digits and _, got {args.name!r}")
  args.out = args.out or RESULTS / args.name


def args_from_config(config, workdir: str | None = None) -> argparse.Namespace:
  """The arguments of a configs/cifar_reference.py config (`python -m experiments.main`):
  its fields are this command's flags; 0 / empty means the flag's default."""
  return argparse.Namespace(
      archive=config.archive, epochs=config.epochs or None, budget_s=config.budget_s or None,
      max_epochs=config.max_epochs, seeds=list(config.seeds), methods=list(config.methods),
      batch_size=config.batch_size, learning_rate=config.learning_rate,
      train_size=config.train_size, width=config.width, stacking=config.stacking,
      test_size=config.test_size, name=config.name,
      out=pathlib.Path(workdir) if workdir else None, code_commit=config.code_commit)


def main(argv: list[str] | None = None) -> int:
  return run(parse_args(argv))


def run(args: argparse.Namespace) -> int:
  """Trains every (method, seed) model stacked and writes one result JSON per model."""
  t_start = time.perf_counter()
  train_split, test_split, info = load_cifar(args.archive, args.train_size)
  if info.num_train < args.batch_size:
    raise ValueError(f"--batch-size {args.batch_size} exceeds the {info.num_train} training "
                     f"images")
  print(f"decoded {info.num_train} train / {info.num_eval} test images in "
        f"{time.perf_counter() - t_start:.1f}s on {jax.devices()[0].device_kind}", flush=True)
  log = lambda line: print(line, flush=True)
  model_kwargs = {"width": args.width} if args.width != 64 else {}
  make_configs = lambda epochs: method_configs(
      args.methods, epochs=epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
      train_size=args.train_size, model_kwargs=model_kwargs)
  trained = train_stacked(
      make_configs(args.epochs or 1), [(m, s) for m in args.methods for s in args.seeds],
      train_split, info, batch_size=args.batch_size,
      stackings=stacked.STACKINGS if args.stacking == "auto" else (args.stacking,),
      epochs=args.epochs, budget_s=args.budget_s, max_epochs=args.max_epochs, log=log)
  test = test_split
  if 0 < args.test_size < len(test_split["label"]):   # A fixed random subset (split by class).
    keep = np.sort(np.random.default_rng(1).permutation(len(test_split["label"]))[
        :args.test_size])
    test = {k: v[keep] for k, v in test_split.items()}
  reference_results.write_results(
      trained, make_configs(trained.epochs), info, name=args.name, out=args.out,
      tags={m: {"method": m} for m in args.methods}, test=test, train=train_split,
      command=reproducing_command(args, trained.epochs, trained.stacking),
      code_commit=args.code_commit, log=log)
  print(f"done in {time.perf_counter() - t_start:.0f}s ({trained.train_s:.0f}s training); "
        f"results in {args.out}", flush=True)
  return 0


def reproducing_command(args, epochs: int, stacking: str) -> str:
  """The `--epochs` command that trains these models again (a --budget-s run names its epochs)."""
  argv = ["python", "-m", "experiments.cifar_reference", "--archive", "cifar10-jpeg.tar.gz",
          "--epochs", str(epochs), "--batch-size", str(args.batch_size),
          "--learning-rate", str(args.learning_rate), "--stacking", stacking]
  for flag in ("train_size", "test_size"):
    if getattr(args, flag):
      argv += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
  if list(args.methods) != list(_common.METHODS):
    argv += ["--methods", *args.methods]
  if list(args.seeds) != [0, 1, 2]:
    argv += ["--seeds", *map(str, args.seeds)]
  if args.width != 64:
    argv += ["--width", str(args.width)]
  if args.name != STUDY:
    argv += ["--name", args.name]
  return shlex.join(argv)


if __name__ == "__main__":
  try:
    sys.exit(main())
  except ValueError as e:   # A user error found after parsing (e.g. a too-small archive).
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)

"""Every config in experiments/configs builds a trainable run (checked without data or training).

`check_config` is what a broken config must fail: unknown or missing fields, bad values, a model
that cannot be built with its kwargs, an unknown dataset, or a batch that cannot be split.
"""

import importlib.util
import pathlib
import types

import jax
import pytest

from experiments.data import registry as data_registry
from experiments import train
from experiments.configs import default

REPO = pathlib.Path(__file__).resolve().parents[3]
# segmentation.py configures another task (its own fields): checked below.
# cifar.py takes "DATASET,METHOD" (config_flags' `path:arg`): every row of its table.
CONFIGS = sorted([str(p.relative_to(REPO)) for p in (REPO / "experiments" / "configs").glob("*.py")
                  if p.name not in ("__init__.py", "cifar.py", "segmentation.py",
                                    "cifar_reference.py")]
                 + [f"experiments/configs/cifar.py:{d},{m}" for d in ("cifar10", "cifar100")
                    for m in ("baseline", "cutout", "mixup", "cutmix")])


def load(path):
  file, _, arg = path.partition(":")
  spec = importlib.util.spec_from_file_location("cfg", REPO / file)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def test_cifar_config_sets_one_method_each():
  c10, c100 = load("experiments/configs/cifar.py:cifar10,cutout"), load(
      "experiments/configs/cifar.py:cifar100,cutout")
  assert (c10.dataset, c10.mix, c10.cutout_size) == ("cifar10_jpeg", "cutout", 16)
  assert (c100.dataset, c100.cutout_size) == ("cifar100", 8)
  cutmix = load("experiments/configs/cifar.py:cifar10,cutmix")
  assert (cutmix.mix, cutmix.cutmix_alpha, cutmix.mix_prob) == ("cutmix", 1.0, 0.5)
  with pytest.raises(ValueError, match="DATASET,METHOD"):
    load("experiments/configs/cifar.py:cifar11,cutmix")


def check_config(config):
  """Raises if the config could not train: fields, values, model, dataset, batch layout."""
  fields, expected = set(config.keys()), set(default.get_config().keys())
  if fields != expected:
    raise ValueError(f"fields differ from default.py: {sorted(fields ^ expected)}")
  train.validate_config(config)
  if config.dataset not in data_registry.DATASETS:
    raise ValueError(f"unknown dataset {config.dataset!r}")
  shape = (224, 224, 3) if config.dataset == "imagenet2012" else (32, 32, 3)
  info = types.SimpleNamespace(num_classes=10, image_shape=shape, num_train=50_000,
                               mean=(0.0,) * 3, std=(1.0,) * 3)
  plan = train.Plan.make(config, info)
  assert plan.total_steps > 0
  tx = train.make_optimizer(config, train.make_schedule(config, plan.steps_per_epoch,
                                                        plan.total_steps))
  # Builds the model and its optimizer state abstractly (no memory, no FLOPs).
  jax.eval_shape(lambda key: train.create_train_state(config, info, tx, key)[2],
                 jax.random.key(0))


@pytest.mark.parametrize("path", CONFIGS)
def test_every_config_loads_and_validates(path):
  check_config(load(path))


@pytest.mark.parametrize("breakage,pattern", [
    (lambda c: setattr(c, "mix", "cutmixx"), "mix"),
    (lambda c: c.model_kwargs.update({"widht": 8}), "widht"),
    (lambda c: setattr(c, "num_epochs", 0), "num_epochs"),
    (lambda c: setattr(c, "dataset", "cifar11"), "cifar11"),
    (lambda c: setattr(c, "batch_size", 0), "batch_size"),
    (lambda c: setattr(c, "schedule", "linear"), "schedule"),
    (lambda c: c.unlock().update({"mixx": "cutmix"}), "mixx"),
])
def test_a_broken_config_is_detected(breakage, pattern):
  config = load("experiments/configs/quickstart.py")
  check_config(config)   # Sound before the breakage.
  breakage(config)
  with pytest.raises((ValueError, TypeError), match=pattern):
    check_config(config)


def test_segmentation_config_validates_and_a_broken_one_is_caught():
  config = load("experiments/configs/segmentation.py")
  train.validate_config(config)
  config.method = "cutmix_everywhere"
  with pytest.raises(ValueError, match="config.method"):
    train.validate_config(config)


def test_cifar_reference_config_is_the_commands_flags(tmp_path):
  # The stacked mode's config (run by experiments.main) maps field for field onto the flags.
  from experiments import cifar_reference   # pylint: disable=g-import-not-at-top
  config = load("experiments/configs/cifar_reference.py")
  config.archive, config.epochs = str(tmp_path), 3
  args = cifar_reference.args_from_config(config, str(tmp_path / "out"))
  cifar_reference.check(args)
  assert (args.epochs, args.budget_s, args.seeds, args.stacking) == (3, None, [0, 1, 2], "auto")
  assert args.out == tmp_path / "out" and args.methods == ["baseline", "cutout", "mixup", "cutmix"]
  config.archive = str(tmp_path / "missing.tar.gz")
  with pytest.raises(ValueError, match="does not exist"):
    cifar_reference.check(cifar_reference.args_from_config(config))

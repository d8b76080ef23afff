"""Issue 19's reference-scale study of claims 4 and 8: the shapes methods at 64×64 on a GPU.

`shapes_methods` (CPU) compares the 7 methods on the embedded 32×32 shapes with a 0.08M-parameter
ResNet. Here the same builder (`data.shapes.generate`, same seed and splits, its boxes and
masks) draws the images at 64×64, on the device (no TFDS): 10,000 training and 2,000 test
images, objects 22-49 pixels across. The model is the CPU study's ResNet family scaled up:
`resnet_small` at width 64 with 2 blocks per stage (64/128/256 channels, 2.8M parameters,
bfloat16), whose last feature map is 16×16, so each class activation map cell covers 4×4 pixels.
Recipe: 40 epochs, batch 256, peak lr 0.2 (cifar_reference_long's, whose baseline fits);
Cutout 32×32 (half the side, as the CPU studies' 16 on 32×32). 7 methods (`_common.METHODS`
+ `VARIANTS`) × 3 seeds, seed-major; a call stacks each seed's models in one scan step (one
`lax.switch` branch per method), seed after seed, and writes a seed's JSONs when it is done.

Each model's JSON (`reference_results`): test accuracy and calibration, the final model's
accuracy on its own training images (`train_fit`, the fit criterion), the occlusion curves and
CAM localization against the test boxes (`analysis.localization`: GT-known at IoU ≥ 0.5 and
top-1 localization, the CPU study's code).

  python -m experiments.reference_plan claim48 --list
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import numpy as np

from experiments import cifar_reference
from experiments import device_plan
from experiments.data import image_files
from experiments.data import registry
from experiments.data import shapes
from experiments.device_plan import Claim, Model
from experiments.studies import _common

RESULT_SET = "shapes_methods_reference"
SEEDS = (0, 1, 2)
METHODS = _common.METHODS + _common.VARIANTS


@dataclasses.dataclass(frozen=True)
class Recipe:
  epochs: int = 40
  batch_size: int = 256
  learning_rate: float = 0.2
  width: int = 64            # resnet_small's first stage (then ×2, ×4).
  blocks: int = 2            # Basic blocks per stage.
  image_size: int = 64
  num_train: int = 10_000    # The embedded shapes' split sizes.
  num_test: int = 2_000
  cutout_size: int = 32

  @property
  def dataset(self) -> str:
    return f"shapes_{self.image_size}x{self.image_size}"


RECIPE = Recipe()
# Forward FLOPs per 64×64 image of resnet_small(width=64, blocks=2) (XLA's cost analysis on
# CPU): the layer types and widths of PreAct-ResNet-18's first three stages, in bfloat16 too, so
# the H200's PreAct-ResNet-18 rate scales by FLOPs alone (18,190 images/s).
FLOPS_PER_IMAGE = 3.245e9
IMAGES_PER_S = device_plan.images_per_s(FLOPS_PER_IMAGE)
# On the host, per model: CAM boxes of the 2,000 test images (`analysis.localization` on 64×64
# maps: 0.24 s on this project's 2 busy CPU cores), and the occlusion curves' host-side masking.
# Generating the 12,000 images: 49 s here on 2 busy cores.
LOCALIZE_S, OCCLUDE_S, GENERATE_S = 1.0, 2.0, 50.0


def claim48(seeds=SEEDS, methods=METHODS) -> Claim:
  """Seed-major: a call's models compare every method of a seed first."""
  models = [Model(method, seed, method, tags=(("method", method),))
            for seed in seeds for method in methods]
  return Claim(RESULT_SET, tuple(models))


def model_seconds(recipe: Recipe = RECIPE) -> float:
  """Training, then evaluation: the test set 12 times (logits, the occlusion curves' clean and
  9 occluded passes, CAMs), the training set once."""
  steps = recipe.epochs * (recipe.num_train // recipe.batch_size)
  eval_images = 12 * recipe.num_test + recipe.num_train
  return (steps * recipe.batch_size / IMAGES_PER_S + eval_images / (3 * IMAGES_PER_S)
          + LOCALIZE_S + OCCLUDE_S)


def call_seconds(models, recipe: Recipe = RECIPE) -> float:
  """Generate the data once, then compile, train and evaluate each seed's group."""
  return GENERATE_S + sum(device_plan.COMPILE_S + len(group) * model_seconds(recipe)
                          for group in device_plan.by_seed(models).values())


def load_shapes(recipe: Recipe = RECIPE):
  """(train arrays, test arrays, DatasetInfo) of shapes at the recipe's size, from the embedded
  dataset's builder and seed: "image" uint8, "label" int32, "box", "object_mask"."""
  splits = {}
  for split, n in (("train", recipe.num_train), ("test", recipe.num_test)):
    data = shapes.generate(n, split=split, image_size=recipe.image_size)
    splits[split] = {**data, "label": data["label"].astype(np.int32)}
  mean, std = image_files.channel_stats(splits["train"]["image"])
  info = registry.DatasetInfo(
      name=recipe.dataset, num_classes=shapes.NUM_CLASSES,
      image_shape=tuple(splits["train"]["image"].shape[1:]), num_train=recipe.num_train,
      num_eval=recipe.num_test, mean=mean, std=std, class_names=shapes.CLASS_NAMES)
  return splits["train"], splits["test"], info


def configs_for(methods, recipe: Recipe = RECIPE) -> dict:
  """{method: config}: the method on the recipe (only the mix fields differ, so they stack)."""
  return cifar_reference.setting_configs(
      {m: (m, {"cutout_size": recipe.cutout_size}) for m in methods}, epochs=recipe.epochs,
      batch_size=recipe.batch_size, learning_rate=recipe.learning_rate, train_size=0,
      model_kwargs={"width": recipe.width, "blocks": recipe.blocks}, dataset=recipe.dataset,
      model="resnet_small")


def run_call(claim: Claim, models, *, out: pathlib.Path, command: str, code_commit: str | None,
             recipe: Recipe = RECIPE, log=print) -> list[pathlib.Path]:
  """Trains the `models` of one call whose JSON is not in `out`, stacked, and writes them."""
  todo = device_plan.missing(models, out)
  log(f"{claim.name}: {len(models) - len(todo)} of {len(models)} runs of this call done; "
      f"training {len(todo)} (estimate {call_seconds(todo, recipe):.0f} s)")
  if not todo:
    return []
  train, test, info = load_shapes(recipe)
  log(f"generated {info.num_train} train / {info.num_eval} test {recipe.dataset} images; "
      f"training on {jax.devices()[0].device_kind}")
  written = []
  for group in device_plan.by_seed(todo).values():   # A stopped call keeps finished seeds.
    configs = configs_for(sorted({m.setting for m in group}, key=METHODS.index), recipe)
    written += device_plan.train_and_write(
        claim, group, configs, train, test, info, batch_size=recipe.batch_size,
        epochs=recipe.epochs, out=out, command=command, code_commit=code_commit, log=log,
        occlusion=True, localization=True)
  return written

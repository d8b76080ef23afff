"""Issue 19's reference-scale study of claim 7: the segmentation study at 64×64 on a GPU.

`segmentation_fit` (CPU) fits a 0.13M-parameter U-Net on 2,500 32×32 shapes images. Here the
embedded dataset's builder (`data.shapes.generate`, same seed and splits) draws 10,000
training and 2,000 test images at 64×64 on the device (no TFDS), and a wider U-Net (widths 32,
64, 128, 256: 2.1M parameters, float32) labels every pixel object / background, as the CPU
study does. The 4 methods of `studies.segmentation` (none, CutMix on the images only, CutMix on
images and masks consistently, Mixup consistently; α = 1, p = 0.5 per image) × 3 seeds, 30
epochs of batch 256, peak lr 0.2 (the CPU recipe's 0.05 per 64 images), each seed's 4 models
stacked in one scan step (`train/stacked_segmentation.py`; the seeds one after another, with
the step compiled once). The fit criterion is the CPU study's: the
baseline's final train mIoU on its own un-augmented training images ≥ 95%.

Each model's JSON has the CPU study's fields: summary eval_miou / eval_pixel_accuracy /
eval_object_iou / class_iou / confusion, analysis.train_fit {miou, pixel_accuracy, object_iou,
images}, tags {method, seed}, device, commit and command.

  python -m experiments.reference_plan claim7 --list
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import device_plan
from experiments import reference_results
from experiments import shapes_reference
from experiments import study as study_runner
from experiments.configs import segmentation as seg_config
from experiments.device_plan import Claim, Model
from experiments.eval import metrics
from experiments.train import segmentation
from experiments.train import stacked
from experiments.train import stacked_segmentation

RESULT_SET = "segmentation_reference"
SEEDS = (0, 1, 2)
METHODS = ("none", "cutmix_images_only", "cutmix_consistent", "mixup_consistent")


@dataclasses.dataclass(frozen=True)
class Recipe:
  epochs: int = 30
  batch_size: int = 256
  learning_rate: float = 0.2
  widths: tuple = (32, 64, 128, 256)
  image_size: int = 64
  num_train: int = 10_000
  num_test: int = 2_000

  @property
  def shapes(self) -> shapes_reference.Recipe:
    """The data: the shapes plan's images at this size."""
    return shapes_reference.Recipe(image_size=self.image_size, num_train=self.num_train,
                                   num_test=self.num_test)


RECIPE = Recipe()
# Forward FLOPs per 64×64 image of the U-Net at widths (32, 64, 128, 256) (XLA's cost analysis
# on CPU), and a slowdown of 3 against the PreAct-ResNet-18 measurement it is scaled from: the
# U-Net runs in float32 (the measurement: bfloat16) and its full-resolution layers are narrow
# (32 channels at 64×64: memory-bound), so 6,590 images/s is assumed (FLOPs alone: 19,770).
FLOPS_PER_IMAGE, SLOWDOWN = 1.476e9, 3.0
IMAGES_PER_S = device_plan.images_per_s(FLOPS_PER_IMAGE, SLOWDOWN)


def claim7(seeds=SEEDS, methods=METHODS) -> Claim:
  models = [Model(method, seed, method, tags=(("method", method),))
            for seed in seeds for method in methods]
  return Claim(RESULT_SET, tuple(models))


def model_seconds(recipe: Recipe = RECIPE) -> float:
  """Training, then the confusion matrices of the test and training sets (forward only)."""
  steps = recipe.epochs * (recipe.num_train // recipe.batch_size)
  return (steps * recipe.batch_size / IMAGES_PER_S
          + (recipe.num_train + recipe.num_test) / (3 * IMAGES_PER_S))


def call_seconds(models, recipe: Recipe = RECIPE) -> float:
  """Generate the data, compile once (every seed's group reuses the step), train, evaluate."""
  return (shapes_reference.GENERATE_S + device_plan.COMPILE_S
          + len(models) * model_seconds(recipe))


def configs_for(methods, recipe: Recipe = RECIPE) -> dict:
  """{method: config}: the segmentation config on the recipe (only `method` differs)."""
  configs = {}
  for method in methods:
    config = seg_config.get_config()
    config.update(method=method, dataset=recipe.shapes.dataset, batch_size=recipe.batch_size,
                  learning_rate=recipe.learning_rate, num_epochs=recipe.epochs,
                  progress_bar=False)
    config.model_kwargs.widths = tuple(recipe.widths)
    configs[method] = config
  return configs


def train_models(configs, names, train, info, *, recipe: Recipe, jitted: dict, log=print):
  """(stacked states, history, train seconds) of the (method, seed) models `names`.

  `jitted` holds the train step and the confusion function, made for the first group and
  reused by the next ones: every group has the same configs (one `lax.switch` branch each) and
  model, so a group of the same size runs without compiling again."""
  steps_per_epoch = info.num_train // recipe.batch_size
  graphdef, eval_graphdef, states, mix_keys, crop_keys, method_ids, names = stacked.init_models(
      configs, info, names, create_model=segmentation.create_model)
  if not jitted:
    jitted["step"] = stacked_segmentation.make_train_step(configs, info, graphdef,
                                                          steps_per_epoch)
    jitted["confusion"] = stacked_segmentation.confusion_fn(
        eval_graphdef, next(iter(configs.values())), info)
  data = {k: jnp.asarray(train[k]) for k in ("image", segmentation.MASK_FEATURE)}
  stepper = lambda states, idx, i, total: stacked.run_step(
      jitted["step"], data, jnp.asarray(train["label"]), crop_keys, mix_keys, method_ids, states,
      idx, i, total)
  t0 = time.perf_counter()
  states, history = stacked.train_epochs(stepper, states, names, epochs=recipe.epochs,
                                         num_train=info.num_train,
                                         batch_size=recipe.batch_size, log=log)
  return states, history, time.perf_counter() - t0


def run_call(claim: Claim, models, *, out: pathlib.Path, command: str, code_commit: str | None,
             recipe: Recipe = RECIPE, log=print) -> list[pathlib.Path]:
  """Trains the `models` of one call whose JSON is not in `out`, one seed's models stacked at
  a time (a call stopped early keeps the seeds it finished), and writes them."""
  todo = device_plan.missing(models, out)
  log(f"{claim.name}: {len(models) - len(todo)} of {len(models)} runs of this call done; "
      f"training {len(todo)} (estimate {call_seconds(todo, recipe):.0f} s)")
  if not todo:
    return []
  train, test, info = shapes_reference.load_shapes(recipe.shapes)
  log(f"generated {info.num_train} train / {info.num_eval} test images; training on "
      f"{jax.devices()[0].device_kind}")
  configs = configs_for(sorted({m.setting for m in todo}, key=METHODS.index), recipe)
  jitted, paths = {}, []
  for group in device_plan.by_seed(todo).values():
    names = [(m.setting, m.seed) for m in group]
    states, history, train_s = train_models(configs, names, train, info, recipe=recipe,
                                            jitted=jitted, log=log)
    test_c, train_c = (stacked_segmentation.confusions(jitted["confusion"], states, split)
                       for split in (test, train))
    steps = recipe.epochs * (info.num_train // recipe.batch_size)
    run = dict(steps=steps, images=steps * recipe.batch_size, train_s=train_s,
               stacked=len(names), command=command, code_commit=code_commit)
    for m, (method, seed) in enumerate(names):
      config = configs[method].copy_and_resolve_references()
      config.seed = seed
      history_m = [{k: h[k] if k == "epoch" else h[k][m] for k in h} for h in history]
      result = _result(claim.name, config, test_c[m], train_c[m], info.num_train, history_m,
                       **run)
      paths.append(out / reference_results.file_name(method, seed))
      study_runner.write_result(paths[-1], result)
      log(f"{method}/seed{seed}: test mIoU {result['summary']['eval_miou']:.4f}, train mIoU "
          f"{result['analysis']['train_fit']['miou']:.4f}")
  return paths


def _result(name: str, config, test_confusion, train_confusion, num_train: int, history, *,
            steps: int, images: int, train_s: float, stacked: int, command: str,
            code_commit: str | None) -> dict:
  """One model's JSON, in the fields of the CPU segmentation studies' results."""
  scores = metrics.segmentation_metrics(test_confusion)
  fit = metrics.segmentation_metrics(train_confusion)
  return {
      "study": name, "run": f"{config.method}/seed{config.seed}",
      "tags": {"method": config.method, "seed": config.seed}, "seed": config.seed,
      "config": config.to_dict(),
      "summary": {**{f"eval_{k}": v for k, v in scores.items() if k != "class_iou"},
                  "class_iou": scores["class_iou"],
                  "confusion": np.asarray(test_confusion, np.int64).tolist(),
                  "method": config.method, "model": config.model, "dataset": config.dataset,
                  "steps": steps, "wall_time_s": train_s, "models_stacked": stacked,
                  "stacking": "scan", "images_per_sec": stacked * images / train_s},
      # The running metric is pixel accuracy (the background counts): not the fit measure.
      "epochs": [{"epoch": h["epoch"], "train_loss": float(h["train_loss"]),
                  "train_pixel_accuracy": float(h["train_accuracy"])} for h in history],
      "analysis": {"train_fit": {"miou": fit["miou"], "pixel_accuracy": fit["pixel_accuracy"],
                                 "object_iou": fit["object_iou"], "images": int(num_train)}},
      "train_images": images, "wall_time_s": train_s,
      **study_runner.provenance(code_commit), "command": command, "study_command": command}

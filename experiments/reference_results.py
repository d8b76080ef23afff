"""Result JSONs of stacked reference-scale models, in the study runner's schema.

`experiments.cifar_reference` (one model per method and seed) and `experiments.reference_plan`
(a study's share of models per device call) train models stacked on one device
(`train/stacked.py`); this writes one JSON per model, as `experiments.study` would, so that
`experiments.report` reads them: run name `<setting>/seed<k>`, file `<setting with / as __>
__seed<k>.json`, the setting's tags, calibration on the test set, the final model's accuracy
on its own un-augmented training images (`train_fit`, issue 19's fit criterion) and, where
asked, the occlusion curves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import dataclasses
import functools
import pathlib

import jax
import numpy as np

from experiments import study as study_runner
from experiments.eval import analysis
from experiments.eval import inference


@dataclasses.dataclass(frozen=True)
class Trained:
  """Stacked models after training, and how they were trained."""
  states: object              # The stacked TrainState (model axis first).
  eval_all: object            # jit(logits of every model)(params, batch_stats, images).
  names: Sequence[tuple[str, int]]   # (setting, seed) per model.
  history: list               # Per epoch: {"epoch", "train_loss" [M], "train_accuracy" [M]}.
  epochs: int
  steps_per_epoch: int
  batch_size: int
  train_s: float
  stacking: str
  probes: Mapping
  class_maps_all: object = None   # jit(CAMs of every model)(params, batch_stats, images).


def predict_logits(eval_fn, params, batch_stats, images: np.ndarray, chunk: int = 2500):
  """float32 logits [M, N, K] of every stacked model on uint8 images [N, H, W, C], `chunk`
  images of 32×32 at a time (fewer of larger images: the same pixels, so a stack of 64×64
  models needs no more memory than the CIFAR-10 ones)."""
  chunk = max(1, chunk * 32 * 32 // (images.shape[1] * images.shape[2]))
  return inference.in_batches(lambda part: eval_fn(params, batch_stats, part), images,
                              min(chunk, len(images)), axis=1).astype(np.float32)


def file_name(setting: str, seed: int) -> str:
  """"alpha1/p1" seed 2 → "alpha1__p1__seed2.json" (the runner's `Run.file_stem`)."""
  return f"{setting.replace('/', '__')}__seed{seed}.json"


def write_results(trained: Trained, configs: Mapping, info, *, name: str, out: pathlib.Path,
                  tags: Mapping[str, Mapping], test: Mapping[str, np.ndarray],
                  train: Mapping[str, np.ndarray], command: str, code_commit: str | None,
                  occlusion: bool = True, localization: bool = False,
                  log=print) -> list[pathlib.Path]:
  """One JSON per model of `trained` under `out` (`tags[setting]`: the report's labels, the
  seed added); returns their paths. `test` / `train`: uint8 "image" and int "label" arrays
  (`localization`: and "box", scored against each model's class activation maps)."""
  test_labels, train_labels = np.asarray(test["label"]), np.asarray(train["label"])
  logits = predict_logits(trained.eval_all, trained.states.params, trained.states.batch_stats,
                          test["image"])
  train_logits = predict_logits(trained.eval_all, trained.states.params,
                                trained.states.batch_stats, train["image"])
  steps = trained.epochs * trained.steps_per_epoch
  images_seen = steps * trained.batch_size
  paths = []
  for m, (setting, seed) in enumerate(trained.names):
    calibration = analysis.calibration(logits[m], test_labels)
    config = configs[setting].copy_and_resolve_references()
    config.seed = seed
    results = {"calibration": calibration,
               "train_fit": {"accuracy": float((train_logits[m].argmax(-1)
                                                == train_labels).mean()),
                             "images": int(len(train_labels))}}
    if occlusion:
      model_state = jax.tree_util.tree_map(lambda a, m=m: a[m], trained.states)
      predict = functools.partial(_predict_one, trained.eval_all, model_state)
      results["occlusion"] = analysis.occlusion_curves(predict, test["image"], test_labels,
                                                       mean=info.mean)
    if localization:
      results["localization"] = _localization(trained, m, test, logits[m].argmax(-1))
    result = {
        "study": name, "run": f"{setting}/seed{seed}",
        "tags": {**tags[setting], "seed": seed}, "seed": seed, "config": config.to_dict(),
        "summary": {
            "eval_accuracy": float((logits[m].argmax(-1) == test_labels).mean()),
            "eval_nll": analysis.nll(logits[m], test_labels),
            "eval_ece": analysis.ece(logits[m], test_labels),
            "steps": steps, "model": config.model, "mix": config.mix,
            "dataset": config.dataset, "wall_time_s": trained.train_s,
            # All stacked models together: they train in the same steps.
            "images_per_sec": len(trained.names) * images_seen / trained.train_s,
            "models_stacked": len(trained.names), "stacking": trained.stacking,
            "stacking_probes": dict(trained.probes)},
        "epochs": [{"epoch": h["epoch"], "train_loss": float(h["train_loss"][m]),
                    "train_accuracy": float(h["train_accuracy"][m])} for h in trained.history],
        "analysis": results, "train_images": images_seen, "wall_time_s": trained.train_s,
        **study_runner.provenance(code_commit), "command": command, "study_command": command,
    }
    path = out / file_name(setting, seed)
    study_runner.write_result(path, result)
    paths.append(path)
    log(f"{setting}/seed{seed}: test accuracy {result['summary']['eval_accuracy']:.4f}, "
        f"ECE {calibration['ece']:.4f}")
  return paths


def _localization(trained: Trained, m: int, test: Mapping[str, np.ndarray], predicted) -> dict:
  """GT-known and top-1 localization of model `m` (`analysis.localization`, the CPU study's)."""
  one = jax.tree_util.tree_map(lambda a: a[m:m + 1], trained.states)
  maps = predict_logits(trained.class_maps_all, one.params, one.batch_stats, test["image"],
                        chunk=500)[0]
  h, w = test["image"].shape[1:3]
  return analysis.localization(maps, np.asarray(test["label"]), predicted,
                               np.asarray(test["box"]), h, w)


def _predict_one(eval_all, model_state, images):
  """Class ids of one model (a slice of the stacked state) on uint8 images."""
  one = jax.tree_util.tree_map(lambda a: a[None], model_state)
  return predict_logits(eval_all, one.params, one.batch_stats, images)[0].argmax(-1)

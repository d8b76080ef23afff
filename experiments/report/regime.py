"""The regime a result set was measured in: does its baseline fit its training data?

A regularizer is expected to help only a model that can fit its training set; one that cannot
(the 0.08M-parameter CPU model on 5k CIFAR-10 images reaches ~74% train accuracy) pays for any
regularizer. So every verdict of the report names its regime: *fits* when the baseline's train
accuracy, averaged over seeds, is at least 95%; *underfits* below it; *fit not measured* without
a baseline or without a train accuracy that means fitting. With it: epochs, training images,
model and device. Segmentation fits by its final model's train mIoU (≥ 95%), since its running
pixel accuracy counts the majority background.

Train accuracy, best measure first: the final model's accuracy on its own training images,
un-augmented, in eval mode (`analysis.train_fit`, where every baseline run stored it); else the
trainers' running accuracy over an epoch's training batches as trained (crop + flip; the
baseline mixes nothing), averaged over the logged epochs in the last 10% of training (the last
logged one where a run logs only every few epochs). The running one is lower: the batches are
augmented and the weights move during the epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np


FIT_ACCURACY = 0.95
# The two measures of fit, best first: the final model's accuracy on its own training images,
# un-augmented, in eval mode (`analysis.train_fit`, stored by the issue-19 studies), and the
# running accuracy of the last epochs (every result has it; lower: augmented, weights moving).
FINAL_FIT = "final model's accuracy on its own training images (un-augmented)"
FINAL_MIOU_FIT = "final model's mIoU on its own training images (un-augmented)"
RUNNING_FIT = "running train accuracy over its last 10% of epochs (augmented batches)"
LAST_FRACTION = 0.1
# The methods that mix nothing, by study family (the segmentation study calls it "none").
BASELINES = ("baseline", "none")
# Result sets without baseline runs of their own take the regime of the study they share it with.
BASELINE_FROM = {"aggressive_sampling": "cifar_methods",
                 "aggressive_sampling_fit": "cifar_methods_fit",
                 "aggressive_sampling_reference": "cifar_reference_long"}
# Result sets whose logged (running) train accuracy does not measure fitting, and why: they
# fit only by a stored final-model measure (`segmentation_fit` stores the train mIoU).
_PIXELS = ("its train metric is pixel accuracy, in which the background (the majority class) "
           "counts; no train mIoU is logged")
NOT_MEASURED = {"segmentation": _PIXELS, "segmentation_fit": _PIXELS,
                "segmentation_reference": _PIXELS}


@dataclasses.dataclass(frozen=True)
class Regime:
  fits: bool | None            # None: fit not measured.
  train_accuracy: float | None  # The baseline's, over its last epochs, mean over seeds.
  seeds: int                   # Baseline runs behind train_accuracy.
  epochs: float
  images: str                  # Training images: "2,500", "all ≈50k".
  dataset: str
  model: str
  device: str
  why_unmeasured: str = ""
  measure: str = RUNNING_FIT    # Which train accuracy decided (FINAL_FIT or RUNNING_FIT).


def last_epochs_accuracy(run: Mapping) -> float | None:
  """Mean train accuracy over the logged epochs in the last 10% of `run`'s training."""
  logged = [e for e in run.get("epochs", ()) if "train_accuracy" in e]
  if not logged:
    return None
  final = logged[-1].get("epoch", 0.0)
  start = (1 - LAST_FRACTION) * final
  window = [e["train_accuracy"] for e in logged if e.get("epoch", 0.0) >= start]
  return float(np.mean(window))


def epochs_trained(run: Mapping) -> float:
  """Epochs actually trained: the last logged epoch (a step budget can override num_epochs)."""
  logged = [e["epoch"] for e in run.get("epochs", ()) if "epoch" in e]
  return float(logged[-1]) if logged else float(run["config"]["num_epochs"])


def training_images(run: Mapping) -> str:
  """The training set's size: the subset's ("2,500"), or the full set's from the images seen
  per epoch, to 2 significant digits ("all ≈50k": 49,920 in full batches of 256)."""
  size = run["config"].get("train_size") or 0
  if size:
    return f"{size:,}"
  seen, epochs = run.get("train_images"), epochs_trained(run)
  if not seen or not epochs:
    return "all"
  return f"all ≈{float(f'{seen / epochs:.2g}') / 1000:g}k"


def model_name(run: Mapping) -> str:
  """"resnet_small", "resnet_small(width=32)"."""
  config = run["config"]
  kwargs = ", ".join(f"{k}={v}" for k, v in sorted((config.get("model_kwargs") or {}).items()))
  return f"{config.get('model', '?')}{f'({kwargs})' if kwargs else ''}"


def device_name(run: Mapping) -> str:
  """"CPU (AMD EPYC 7B13)", "CPU" (results from before they named it), "NVIDIA H200"."""
  device = run.get("device", {})
  if device.get("platform", "cpu") == "cpu":
    model = device.get("cpu_model")
    return f"CPU ({model})" if model else "CPU"
  return str(device.get("device_kind", device.get("platform")))


def of_baseline(runs: Sequence[Mapping], why_unmeasured: str = "") -> Regime | None:
  """The regime set by these baseline runs (None without any)."""
  if not runs:
    return None
  # A JSON's row over one filled in from a log (`results.load_folder`): only JSONs record
  # the images trained on.
  first = next((r for r in runs if "from_log" not in r), runs[0])
  # The final-model measure only where every baseline run has it: one measure per regime.
  stored = [r.get("analysis", {}).get("train_fit", {}) for r in runs]
  final = [f.get("accuracy") for f in stored]
  if all(a is not None for a in final):
    accuracies, measure = final, FINAL_FIT
  elif all(f.get("miou") is not None for f in stored):
    accuracies, measure, why_unmeasured = [f["miou"] for f in stored], FINAL_MIOU_FIT, ""
  else:
    accuracies = [a for a in map(last_epochs_accuracy, runs) if a is not None]
    measure = RUNNING_FIT
  train = float(np.mean(accuracies)) if accuracies else None
  # 1e-9: a mean of values at the threshold may land a rounding error below it.
  fits = None if train is None or why_unmeasured else train >= FIT_ACCURACY - 1e-9
  return Regime(fits=fits, train_accuracy=train,
                seeds=len(accuracies), epochs=epochs_trained(first),
                images=training_images(first), dataset=str(first["config"].get("dataset", "?")),
                model=model_name(first),
                device=" / ".join(sorted({device_name(r) for r in runs})),
                why_unmeasured=why_unmeasured or ("" if accuracies else "no train accuracy logged"),
                measure=measure)


def baseline_runs(rows: Sequence[Mapping]) -> list[Mapping]:
  return [r for r in rows if r["tags"].get("method") in BASELINES]


def of_study(study: str, results: Mapping[str, Sequence[Mapping]]) -> Regime | None:
  """The regime of a result set (through BASELINE_FROM where it has no baseline of its own)."""
  source = BASELINE_FROM.get(study, study)
  return of_baseline(baseline_runs(results.get(source, [])), NOT_MEASURED.get(study, ""))


def word(regime: Regime | None) -> str:
  if regime is None:
    return "regime unknown (no baseline run yet)"
  return {True: "fits", False: "underfits", None: "fit not measured"}[regime.fits]


def tag(regime: Regime | None) -> str:
  """The short form every verdict carries: "[fits: 85 epochs, all ≈50k cifar10_jpeg images,
  preact_resnet18, NVIDIA H200]"."""
  if regime is None:
    return f"[{word(regime)}]"
  return (f"[{word(regime)}: {regime.epochs:.0f} epochs, {regime.images} {regime.dataset} "
          f"images, {regime.model}, {regime.device}]")


def sentence(regime: Regime | None, source: str = "") -> str:
  """The section's regime line: the verdict, its evidence, and what was trained where."""
  if regime is None:
    return (f"Regime: {word(regime)}{f' (from {source})' if source else ''}: fits or underfits "
            "is decided by the baseline's train accuracy.")
  if regime.fits is None:
    evidence = f"the baseline's fit is not measured: {regime.why_unmeasured}"
    if regime.train_accuracy is not None:
      evidence += f" (its logged train metric: {100 * regime.train_accuracy:.2f}%)"
  else:
    evidence = (f"the baseline's {regime.measure} is "
                f"{100 * regime.train_accuracy:.2f}% (mean of {regime.seeds} seed"
                f"{'s' if regime.seeds != 1 else ''}{f', {source} runs' if source else ''}), "
                f"{'≥' if regime.fits else '<'} {FIT_ACCURACY:.0%}")
  return (f"Regime: **{word(regime)}** — {evidence}. {regime.epochs:.0f} epochs on "
          f"{regime.images} {regime.dataset} training images, {regime.model}, {regime.device}.")


def tag_many(regimes: Sequence[Regime | None]) -> str:
  """One tag for a sweep's regimes: "[underfits at every size: 3–62 epochs, 2,500–50,000
  images, resnet_small, CPU]"; "[fits at some sizes …]" where they differ."""
  known = [r for r in regimes if r is not None]
  if not known:
    return tag(None)
  words = sorted({word(r) for r in known})
  verdict = f"{words[0]} at every size" if len(words) == 1 else f"{' / '.join(words)} by size"
  epochs = sorted({round(r.epochs) for r in known})
  span = lambda xs: f"{xs[0]}–{xs[-1]}" if xs[0] != xs[-1] else f"{xs[0]}"
  images = [r.images for r in known]
  datasets = " / ".join(sorted({r.dataset for r in known}))
  return (f"[{verdict}: {span(epochs)} epochs, {span(images)} {datasets} images, "
          f"{' / '.join(sorted({r.model for r in known}))}, "
          f"{' / '.join(sorted({r.device for r in known}))}]")

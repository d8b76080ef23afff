"""experiments.report.regime, and the issue-19 studies: every verdict names its regime (the
baseline fits or underfits its training data), partial results say how far they are, and a
claim's headline comes from the result sets where the baseline fits."""

import pytest

from experiments import report
from experiments.report import regime
from tests.experiments.report.test_report_sweeps import _cifar_methods, _interval, _run, _write

# The cifar_methods_fit regime (experiments/studies/cifar_methods_fit.py), as its JSONs record it.
FIT_RECIPE = dict(dataset="cifar10_jpeg", model_kwargs={"width": 32}, train_size=2500,
                  num_epochs=60)
CPU = {"platform": "cpu", "device_kind": "cpu", "device_count": 1, "cpu_count": 2,
       "cpu_model": "AMD EPYC 7B13"}
FIT_TAG = ("[fits: 60 epochs, 2,500 cifar10_jpeg images, resnet_small(width=32), "
           "CPU (AMD EPYC 7B13)]")


def _logged(train_accuracies, every=12.0):
  """An `epochs` list as the trainer writes it: one entry per evaluation."""
  return [{"epoch": every * (i + 1), "train_accuracy": a, "eval_accuracy": 0.5}
          for i, a in enumerate(train_accuracies)]


def _fit_runs(method, accuracies, train_accuracy=0.99, seeds=None):
  rows = []
  for seed, a in zip(seeds or range(len(accuracies)), accuracies):
    r = _run("cifar_methods_fit", method, seed, a, {"method": method}, steps=1200, **FIT_RECIPE)
    r["device"] = CPU
    r["epochs"] = _logged([0.6, 0.8, 0.9, 0.95, train_accuracy if method == "baseline" else 0.7])
    rows.append(r)
  return rows


def _claim_holds(text, number):
  row = next(line for line in text.splitlines() if line.startswith(f"| {number}. "))
  return row.split(" | ")[1]


def test_last_epochs_accuracy_averages_the_last_tenth_of_training():
  # Logged every epoch for 20 epochs: the last 10% are epochs 18, 19, 20.
  every_epoch = {"epochs": [{"epoch": float(e), "train_accuracy": 0.5} for e in range(1, 18)]
                 + [{"epoch": 18.0, "train_accuracy": 0.90}, {"epoch": 19.0},   # eval-only row
                    {"epoch": 19.0, "train_accuracy": 0.96}, {"epoch": 20.0,
                                                              "train_accuracy": 0.99}]}
  assert regime.last_epochs_accuracy(every_epoch) == pytest.approx((0.90 + 0.96 + 0.99) / 3)
  # Logged every 12 of 60 epochs: only the last entry lies in the last 6 epochs.
  assert regime.last_epochs_accuracy({"epochs": _logged([0.1, 0.2, 0.3, 0.4, 0.97])}) == 0.97
  assert regime.last_epochs_accuracy({"epochs": [{"epoch": 1.0, "eval_accuracy": 0.5}]}) is None


@pytest.mark.parametrize("train_accuracy, word", [(0.95, "fits"), (0.9499, "underfits")])
def test_fits_from_95_percent_train_accuracy(train_accuracy, word):
  fit = regime.of_baseline(_fit_runs("baseline", [0.6, 0.6], train_accuracy))
  assert regime.word(fit) == word
  assert regime.tag(fit) == FIT_TAG.replace("fits", word)
  assert (f"Regime: **{word}** — the baseline's running train accuracy over its last 10% of "
          f"epochs (augmented batches) is "
          f"{100 * train_accuracy:.2f}% (mean of 2 seeds), ") in regime.sentence(fit)


def test_the_final_models_train_accuracy_decides_where_every_baseline_run_stored_it():
  runs = _fit_runs("baseline", [0.6, 0.6], train_accuracy=0.94)   # running: underfits
  runs[0]["analysis"]["train_fit"] = {"accuracy": 0.952, "images": 2500}
  fit = regime.of_baseline(runs)   # One run without it: the running measure for both.
  assert (regime.word(fit), fit.train_accuracy) == ("underfits", pytest.approx(0.94))
  runs[1]["analysis"]["train_fit"] = {"accuracy": 0.960, "images": 2500}
  fit = regime.of_baseline(runs)
  assert regime.word(fit) == "fits"
  assert ("the baseline's final model's accuracy on its own training images (un-augmented) is "
          "95.60% (mean of 2 seeds), ≥ 95%") in regime.sentence(fit)


def test_devices_models_and_unmeasured_fits_are_named():
  gpu = _fit_runs("baseline", [0.9])[0]
  gpu["device"] = {"platform": "gpu", "device_kind": "NVIDIA H200", "device_count": 1}
  gpu["config"].update(train_size=0, model="preact_resnet18", model_kwargs={})
  gpu["train_images"], gpu["epochs"] = 49920 * 85, [{"epoch": 85.0, "train_accuracy": 0.9997}]
  assert regime.tag(regime.of_baseline([gpu])) == (
      "[fits: 85 epochs, all ≈50k cifar10_jpeg images, preact_resnet18, NVIDIA H200]")
  seg = dict(gpu, tags={"method": "none", "seed": 0})
  fit = regime.of_study("segmentation", {"segmentation": [seg]})
  assert regime.word(fit) == "fit not measured" and "no train mIoU is logged" in \
      regime.sentence(fit)
  assert regime.word(regime.of_study("cifar_methods_fit", {})) == (
      "regime unknown (no baseline run yet)")


def test_a_partial_fit_study_says_how_far_it_is_and_judges_nothing_yet(tmp_path):
  underfit = _cifar_methods([0.66, 0.65, 0.655], [0.64, 0.62, 0.63])   # CutMix worse
  for r in underfit:
    r["epochs"] = _logged([0.5, 0.74], every=15.0)
  _write(tmp_path, underfit + _fit_runs("baseline", [0.70]) + _fit_runs("cutmix", [0.72]))
  text = report.render(tmp_path)
  assert "#### cifar_methods_fit (2 of 12 runs done)" in text
  assert ("Partial: 2 of 12 runs done; each comparison's verdict is pending until it has ≥3 "
          "paired seeds.") in text
  assert ("Regime: **fits** — the baseline's running train accuracy over its last 10% of epochs "
          "(augmented batches) is "
          "99.00% (mean of 1 seed), ≥ 95%. 60 epochs on 2,500 cifar10_jpeg training images, "
          "resnet_small(width=32), CPU (AMD EPYC 7B13).") in text
  assert ("- cutmix vs baseline: 1 of 3 paired seeds so far; verdict pending until ≥3 paired "
          "seeds.") in text
  assert "| cutmix | 1 | 28.00 | -2.00 (n=1) |" in text
  assert _claim_holds(text, 1) == (
      f"pending (1 of 3 seeds) — cifar_methods_fit {FIT_TAG}<br>*other regimes:*<br>"
      "**does not hold** — cifar_methods [underfits: 30 epochs, 5,000 ? images, resnet_small, "
      "CPU]")


@pytest.mark.parametrize("baseline_fits", [True, False])
def test_a_complete_fit_study_makes_the_headline_only_where_it_fits(tmp_path, baseline_fits):
  base, cut = [0.70, 0.71, 0.69], [0.73, 0.735, 0.72]   # CutMix 3, 2.5, 3 points better
  train = 0.99 if baseline_fits else 0.90
  _write(tmp_path, _fit_runs("baseline", base, train) + _fit_runs("cutmix", cut))
  text = report.render(tmp_path)
  mean, lo, hi = _interval([100 * (b - c) for b, c in zip(base, cut)])
  assert hi < 0
  assert (f"- cutmix vs baseline: better top-1 error (paired Δ {mean:+.2f} points, 95% CI "
          f"[{lo:+.2f}, {hi:+.2f}])") in text
  tag = FIT_TAG if baseline_fits else FIT_TAG.replace("fits", "underfits")
  expected = f"**holds** — cifar_methods_fit {tag}"
  if not baseline_fits:
    expected = f"no result where the baseline fits yet<br>*other regimes:*<br>{expected}"
  assert _claim_holds(text, 1) == expected
  assert (f"cifar_methods_fit {tag}, top-1 error: cutmix − baseline: lower ({mean:+.2f} "
          f"[{lo:+.2f}, {hi:+.2f}])") in text


def _aggressive_fit(accuracies, setting, seeds, **config):
  rows = []
  for seed, a in zip(seeds, accuracies):
    r = _run("aggressive_sampling_fit", setting, seed, a, {"method": "cutmix"}, steps=1200,
             **FIT_RECIPE, **config)
    r["device"] = CPU
    rows.append(r)
  return rows


def test_aggressive_sampling_fit_pairs_with_cifar_methods_fit_and_decides_claim_6(tmp_path):
  default = [0.73, 0.735, 0.72]
  p1 = [0.70, 0.71, 0.70]                               # 3, 2.5, 2 points worse than p = 0.5
  off = [0.72, 0.725, 0.71]                             # 2, 1.5, 1 points better than p = 1
  shared = _fit_runs("baseline", [0.70, 0.71, 0.69]) + _fit_runs("cutmix", default)
  _write(tmp_path, shared + _aggressive_fit(p1[:1], "alpha1/p1", [0], mix_prob=1.0))
  text = report.render(tmp_path)
  assert "#### aggressive_sampling_fit (1 of 6 runs done)" in text
  assert ("CutMix on the `cifar_methods_fit` recipe" in text
          and "(mean of 3 seeds, cifar_methods_fit runs), ≥ 95%" in text)
  assert "- alpha1/p1 vs alpha1/p0.5: 1 of 3 paired seeds so far; verdict pending" in text
  assert _claim_holds(text, 6) == f"pending (1 of 3 seeds) — aggressive_sampling_fit {FIT_TAG}"

  _write(tmp_path, _aggressive_fit(p1, "alpha1/p1", range(3), mix_prob=1.0)
         + _aggressive_fit(off, "alpha1/p1/off_last6", range(3), mix_prob=1.0,
                           mix_off_last_epochs=6.0))
  text = report.render(tmp_path)
  mean, lo, hi = _interval([100 * (d - p) for d, p in zip(default, p1)])
  assert lo > 0
  assert (f"- alpha1/p1 vs alpha1/p0.5: higher error (paired Δ {mean:+.2f} points, 95% CI "
          f"[{lo:+.2f}, {hi:+.2f}])") in text
  mean, lo, hi = _interval([100 * (p - o) for p, o in zip(p1, off)])
  assert (f"- switching alpha1/p1 off for the last 6 epochs: lower error (paired Δ "
          f"{mean:+.2f} points, 95% CI [{lo:+.2f}, {hi:+.2f}])") in text
  assert _claim_holds(text, 6) == f"**holds** — aggressive_sampling_fit {FIT_TAG}"


def test_segmentation_fits_by_its_stored_train_miou_and_not_by_pixel_accuracy():
  seg = _fit_runs("baseline", [0.9])[0]
  seg["tags"] = {"method": "none", "seed": 0}
  seg["epochs"] = [{"epoch": 30.0, "train_accuracy": 0.99}]   # Pixel accuracy: not a fit.
  low = dict(seg, analysis={"train_fit": {"miou": 0.93, "pixel_accuracy": 0.99}})
  high = dict(seg, seed=1, analysis={"train_fit": {"miou": 0.975, "pixel_accuracy": 0.99}})
  fit = regime.of_study("segmentation_fit", {"segmentation_fit": [low, high]})
  # (0.93 + 0.975) / 2 = 0.9525 ≥ 0.95.
  assert regime.word(fit) == "fits"
  assert ("the baseline's final model's mIoU on its own training images (un-augmented) is "
          "95.25% (mean of 2 seeds), ≥ 95%") in regime.sentence(fit)
  fit = regime.of_study("segmentation_fit", {"segmentation_fit": [low]})
  assert regime.word(fit) == "underfits"
  fit = regime.of_study("segmentation_fit", {"segmentation_fit": [seg]})
  assert regime.word(fit) == "fit not measured"

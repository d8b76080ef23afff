"""experiments.report.sweeps: the sweeps' tables pair the right runs, share cifar_methods'
runs only when the recipe matches, and give verdicts from hand-computed intervals."""

import json

import numpy as np
import pytest

from experiments import report
from experiments.report import sweeps as report_sweeps

# Two-sided 95% t quantile for 2 degrees of freedom (3 seeds), from a t table.
T975_DF2 = 4.302652729911275


def _interval(diffs):
  d = np.asarray(diffs, np.float64)
  half = T975_DF2 * d.std(ddof=1) / np.sqrt(len(d))
  return d.mean(), d.mean() - half, d.mean() + half


_RELIABILITY = {"edges": list(np.linspace(0, 1, 16)), "count": [1.0] * 15,
                "confidence": [0.5] * 15, "accuracy": [0.5] * 15}
_CALIBRATION = {"ece": 0.03, "nll": 1.0, "ece_scaled": 0.02, "nll_scaled": 0.9,
                "temperature": 1.2, "reliability": _RELIABILITY,
                "reliability_scaled": _RELIABILITY}


def _run(study, name, seed, accuracy, tags, steps=1170, **config):
  cfg = {"model": "resnet_small", "learning_rate": 0.1, "num_epochs": 30, "seed": seed,
         "mix": "cutmix" if tags.get("method") != "baseline" else "none", "cutmix_alpha": 1.0,
         "mix_prob": 0.5, "train_size": 5000, "num_train_steps": -1}
  cfg.update(config)
  return {"study": study, "run": f"{name}/seed{seed}", "seed": seed, "tags": dict(tags),
          "config": cfg, "summary": {"eval_accuracy": accuracy, "steps": steps},
          "analysis": {"calibration": _CALIBRATION},
          "device": {"platform": "cpu", "device_kind": "cpu", "device_count": 1, "cpu_count": 2},
          "finished_at": "2026-11-25T10:00:00+00:00", "git_commit": "abcdef1234"}


def _write(root, rows):
  for r in rows:
    folder = root / r["study"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{r['run'].replace('/', '__')}.json").write_text(json.dumps(r))


def _cifar_methods(base, cut, **config):
  return ([_run("cifar_methods", "baseline", s, a, {"method": "baseline"}, **config)
           for s, a in enumerate(base)]
          + [_run("cifar_methods", "cutmix", s, a, {"method": "cutmix"}, **config)
             for s, a in enumerate(cut)])


def _efficiency(acc):
  """acc: {(dataset, size, method): [accuracy per seed]} → data_efficiency runs."""
  return [_run("data_efficiency", f"{ds}_{size}/{m}", s, a,
               {"method": m, "dataset": ds, "train_size": size}, train_size=size,
               num_train_steps=1170, dataset=ds)
          for (ds, size, m), accs in acc.items() for s, a in enumerate(accs)]


def test_data_efficiency_shares_cifar_methods_and_tests_whether_the_gain_shrinks(tmp_path):
  acc = {("cifar10_jpeg", 2500, "baseline"): [0.50, 0.52, 0.51],
         ("cifar10_jpeg", 2500, "cutmix"): [0.55, 0.56, 0.57],     # gains −5, −4, −6 points
         ("cifar10_jpeg", 50000, "baseline"): [0.80, 0.81, 0.79],
         ("cifar10_jpeg", 50000, "cutmix"): [0.80, 0.815, 0.795],  # gains 0, −0.5, −0.5
         ("fashion_mnist_idx", 5000, "baseline"): [0.90, 0.91, 0.90],
         ("fashion_mnist_idx", 5000, "cutmix"): [0.90, 0.905, 0.91]}
  base5k, cut5k = [0.66, 0.655, 0.665], [0.68, 0.67, 0.69]      # gains −2, −1.5, −2.5
  rows = _efficiency(acc) + _cifar_methods(base5k, cut5k, dataset="cifar10_jpeg")
  # cifar_methods' recipe: num_train_steps −1 and 30 epochs of 5k: the same 1,170 steps.
  for r in rows:   # The baselines' train accuracy sets each size's regime: 2.5k fits.
    size = r["tags"].get("train_size") or 5000
    r["epochs"] = [{"epoch": 1170 * 128 / size,   # The fixed budget: 60 epochs of 2.5k.
                    "train_accuracy": 0.97 if size == 2500 else 0.74}]
  _write(tmp_path, rows)
  text = report.render(tmp_path)
  gains_5k = [100 * ((1 - c) - (1 - b)) for b, c in zip(base5k, cut5k)]
  mean, lo, hi = _interval(gains_5k)
  assert (f"| cifar10_jpeg | 5000 (cifar_methods) | 30 | 3 | 74.00 (underfits) "
          f"| {100 * (1 - np.mean(base5k)):.2f}" in text)
  assert "| cifar10_jpeg | 2500 | 60 | 3 | 97.00 (fits) |" in text
  assert f"| {mean:+.2f} [{lo:+.2f}, {hi:+.2f}] * |" in text
  g = lambda size: [100 * ((1 - c) - (1 - b)) for b, c in zip(
      acc[("cifar10_jpeg", size, "baseline")], acc[("cifar10_jpeg", size, "cutmix")])]
  mean, lo, hi = _interval(np.subtract(g(2500), g(50000)))
  assert hi < 0
  assert (f"gain at 2500 minus gain at 50000 CIFAR-10 images: larger gain with less data "
          f"(paired Δ {mean:+.2f} points, 95% CI [{lo:+.2f}, {hi:+.2f}])") in text
  assert "gain on Fashion-MNIST minus gain on CIFAR-10, 5,000 images each: larger gain on CIFAR-10" \
      in text
  # The claim's two halves: more data (gains shrink from 2.5k to 50k) holds; already diverse
  # data does not (CutMix gains more on CIFAR-10 than on less diverse Fashion-MNIST).
  assert "more data: **holds**; diverse data: **does not hold** — data_efficiency [" in text
  assert (tmp_path / "figures" / "data_efficiency_gain.png").stat().st_size > 1000


def test_the_fixed_epochs_sweep_shares_cifar_methods_fit_runs_of_more_steps(tmp_path):
  # data_efficiency_fit: 60 epochs at every size, so 1,250 images take half the steps of
  # cifar_methods_fit's 2,500; the Fashion-MNIST pair is at 1,250.
  acc = {("cifar10_jpeg", 1250, "baseline"): [0.40, 0.42, 0.41],
         ("cifar10_jpeg", 1250, "cutmix"): [0.45, 0.45, 0.47],    # gains −5, −3, −6 points
         ("fashion_mnist_idx", 1250, "baseline"): [0.85, 0.86, 0.85],
         ("fashion_mnist_idx", 1250, "cutmix"): [0.85, 0.86, 0.86]}  # gains 0, 0, −1
  rows = [_run("data_efficiency_fit", f"{ds}_{size}/{m}", s, a,
               {"method": m, "dataset": ds, "train_size": size}, steps=586,
               train_size=size, num_epochs=60)
          for (ds, size, m), accs in acc.items() for s, a in enumerate(accs)]
  base, cut = [0.62, 0.61, 0.62], [0.63, 0.62, 0.64]              # gains −1, −1, −2
  fit_runs = [_run("cifar_methods_fit", m, s, a, {"method": m}, steps=1172, train_size=2500,
                   num_epochs=60)
              for m, accs in (("baseline", base), ("cutmix", cut)) for s, a in enumerate(accs)]
  for r in rows + fit_runs:
    r["epochs"] = [{"epoch": 60.0, "train_accuracy": 0.9}]
    r["analysis"]["train_fit"] = {"accuracy": 0.99, "images": r["config"]["train_size"]}
  _write(tmp_path, rows + fit_runs)
  text = report.render(tmp_path)
  assert "| cifar10_jpeg | 2500 (cifar_methods_fit) | 60 | 3 | 99.00 (fits) |" in text
  assert "| cifar10_jpeg | 1250 | 60 | 3 | 99.00 (fits) |" in text
  g1250 = [-5, -3, -6]
  g2500 = [100 * ((1 - c) - (1 - b)) for b, c in zip(base, cut)]
  mean, lo, hi = _interval(np.subtract(g1250, g2500))
  assert (f"gain at 1250 minus gain at 2500 CIFAR-10 images: "
          f"{'larger gain with less data' if hi < 0 else 'no difference'}"
          f" (paired Δ {mean:+.2f} points, 95% CI [{lo:+.2f}, {hi:+.2f}]") in text
  mean, lo, hi = _interval(np.subtract([0, 0, -1], g1250))
  assert (f"gain on Fashion-MNIST minus gain on CIFAR-10, 1,250 images each: "
          f"{'larger gain on CIFAR-10' if lo > 0 else 'no difference'}"
          f" (paired Δ {mean:+.2f} points, 95% CI [{lo:+.2f}, {hi:+.2f}]") in text
  # A step-budget match would have refused the 2,500-image runs (1,172 steps against 586).
  assert "not shared" not in text.split("#### data_efficiency_fit")[1].split("####")[0]


def test_cifar_methods_runs_are_not_shared_when_the_recipe_differs(tmp_path):
  acc = {("cifar10_jpeg", 2500, "baseline"): [0.5, 0.5, 0.5],
         ("cifar10_jpeg", 2500, "cutmix"): [0.5, 0.5, 0.5]}
  rows = _efficiency(acc) + _cifar_methods([0.6] * 3, [0.6] * 3, dataset="cifar10_jpeg",
                                           learning_rate=0.05)
  _write(tmp_path, rows)
  text = report.render(tmp_path)
  assert "5000 (cifar_methods)" not in text
  assert "cifar_methods' cutmix runs not shared: their recipe differs in ['learning_rate']" in text


def test_aggressive_sampling_pairs_each_setting_with_the_default_and_the_baseline(tmp_path):
  sweep = {"alpha2/p0.5": ([0.60, 0.61, 0.60], {"cutmix_alpha": 2.0}),
           "alpha1/p1": ([0.62, 0.60, 0.64], {"mix_prob": 1.0}),
           "alpha1/p1/off_last5": ([0.63, 0.615, 0.65], {"mix_prob": 1.0,
                                                         "mix_off_last_epochs": 5.0})}
  rows = [_run("aggressive_sampling", name, s, a, {"method": "cutmix"}, steps=1170, **cfg)
          for name, (accs, cfg) in sweep.items() for s, a in enumerate(accs)]
  base, default = [0.66, 0.65, 0.655], [0.64, 0.635, 0.645]
  rows += _cifar_methods(base, default)
  _write(tmp_path, rows)
  text = report.render(tmp_path)
  mean, lo, hi = _interval([100 * (a - b) for a, b in zip(default, sweep["alpha2/p0.5"][0])])
  # Δ error (α = 2 − default) = accuracy(default) − accuracy(α = 2): clearly above 0.
  assert lo > 0
  assert (f"alpha2/p0.5 vs alpha1/p0.5: higher error (paired Δ {mean:+.2f} points, 95% CI "
          f"[{lo:+.2f}, {hi:+.2f}])") in text
  assert "alpha1/p1 vs alpha1/p0.5: no difference" in text
  rows_text = text[text.index("| setting |"):]
  assert rows_text.index("| baseline | 3 |") < rows_text.index("| alpha1/p0.5 | 3 |") \
      < rows_text.index("| alpha1/p1 | 3 |")
  assert "switching alpha1/p1 off for the last 5 epochs: lower error" in text


@pytest.mark.parametrize("n_seeds", [1, 2])
def test_sweep_verdicts_wait_for_three_seeds(tmp_path, n_seeds):
  rows = [_run("aggressive_sampling", "alpha2/p0.5", s, 0.6, {"method": "cutmix"},
               cutmix_alpha=2.0) for s in range(n_seeds)]
  rows += _cifar_methods([0.7] * n_seeds, [0.65] * n_seeds)
  _write(tmp_path, rows)
  assert (f"alpha2/p0.5 vs alpha1/p0.5: {n_seeds} of 3 paired seeds so far; verdict pending "
          "until ≥3 paired seeds." in report.render(tmp_path))


def _config_run(**config):
  return {"config": config}


def test_recipe_difference_reads_a_missing_field_as_the_current_default():
  # An old run's config lacks fields added later; it ran with their defaults (features off).
  old = _config_run(learning_rate=0.1, cutmix_minmax=None)
  new = _config_run(learning_rate=0.1, cutmix_minmax=[], mix_kwargs={}, mix_off_last_epochs=0.0)
  assert report_sweeps.recipe_difference(old, new, ()) == []
  # A non-default value of the missing field is a real difference, and so is any other field.
  changed = _config_run(learning_rate=0.2, cutmix_minmax=[0.2, 0.8], mix_kwargs={},
                        mix_off_last_epochs=5.0)
  assert report_sweeps.recipe_difference(old, changed, ()) == [
      "cutmix_minmax", "learning_rate", "mix_off_last_epochs"]
  assert report_sweeps.recipe_difference(old, changed, ("learning_rate",)) == [
      "cutmix_minmax", "mix_off_last_epochs"]

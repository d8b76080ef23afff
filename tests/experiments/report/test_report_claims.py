"""experiments.report's claims table: each claim's verdict comes from the paired results, with
hand-computed intervals, waits for 3 seeds, and names its regime."""

from experiments import report
from tests.experiments.report.test_report_sweeps import _cifar_methods, _interval, _write


def _claim_row(text, number):
  return next(line for line in text.splitlines() if line.startswith(f"| {number}. "))


def _holds(text, number):
  return _claim_row(text, number).split(" | ")[1]


def _train_accuracy(rows, accuracy):
  """The baselines' last logged epoch at this train accuracy (the regime's evidence)."""
  for r in rows:
    if r["tags"]["method"] == "baseline":
      r["epochs"] = [{"epoch": 30.0, "train_accuracy": accuracy}]
  return rows


UNDERFITS = "cifar_methods [underfits: 30 epochs, 5,000 ? images, resnet_small, CPU]"


def test_accuracy_and_calibration_claims_from_three_paired_seeds(tmp_path):
  base, cut = [0.66, 0.65, 0.655], [0.68, 0.675, 0.69]
  rows = _train_accuracy(_cifar_methods(base, cut), 0.74)
  for r in rows:   # CutMix's ECE 1 point lower on every seed.
    if r["tags"]["method"] == "cutmix":
      r["analysis"] = {"calibration": dict(r["analysis"]["calibration"], ece=0.02)}
  _write(tmp_path, rows)
  text = report.render(tmp_path)
  mean, lo, hi = _interval([100 * (b - c) for b, c in zip(base, cut)])   # error difference
  assert hi < 0
  assert (f"{UNDERFITS}, top-1 error: cutmix − baseline: lower ({mean:+.2f} [{lo:+.2f}, "
          f"{hi:+.2f}])") in _claim_row(text, 1)
  # Constant differences have a zero-width interval: −1 point on every seed.
  assert f"{UNDERFITS}, ECE before scaling: cutmix − baseline: lower (-1.00 [-1.00, -1.00])" \
      in _claim_row(text, 2)
  assert "after temperature scaling: cutmix − baseline: no difference (+0.00" in \
      _claim_row(text, 2)
  assert "shapes_methods [" not in _claim_row(text, 1)   # No runs: no verdict line.


def test_no_verdict_before_three_seeds(tmp_path):
  _write(tmp_path, _cifar_methods([0.66, 0.65], [0.70, 0.69]))
  row = _claim_row(report.render(tmp_path), 1)
  assert "cutmix − baseline: 2 of 3 seeds so far" in row
  assert "lower" not in row and "higher" not in row


def test_holds_column_follows_the_primary_comparison_and_the_regime(tmp_path):
  # CutMix 2–3 points less accurate on every seed: claim 1 does not hold here.
  _write(tmp_path, _train_accuracy(_cifar_methods([0.66, 0.65, 0.655], [0.64, 0.62, 0.63]),
                                   0.74))
  assert _holds(report.render(tmp_path), 1) == (
      f"no result where the baseline fits yet<br>*other regimes:*<br>**does not hold** — "
      f"{UNDERFITS}")
  # Differences of −1, +1, 0 points: the interval includes 0. The baseline now fits (≥ 95%).
  _write(tmp_path, _train_accuracy(_cifar_methods([0.66, 0.65, 0.655], [0.67, 0.64, 0.655]),
                                   0.95))
  assert _holds(report.render(tmp_path), 1) == (
      "not shown (no difference) — cifar_methods [fits: 30 epochs, 5,000 ? images, "
      "resnet_small, CPU]")
  _write(tmp_path, _cifar_methods([0.66, 0.65, 0.655], [0.68, 0.67, 0.665]))
  text = report.render(tmp_path)
  assert _holds(text, 1).startswith("no result where the baseline fits yet<br>*other regimes:*"
                                    "<br>**holds** — cifar_methods [fit not measured: ")
  assert _holds(text, 7) == "pending (0 of 3 seeds)"


def test_a_fitting_result_set_makes_the_headline_before_an_underfitting_one(tmp_path):
  # cifar_methods (underfits): CutMix worse on every seed; cifar_reference_long (fits): better.
  rows = _train_accuracy(_cifar_methods([0.66, 0.65, 0.655], [0.64, 0.62, 0.63]), 0.74)
  for r in _train_accuracy(_cifar_methods([0.91, 0.912, 0.913], [0.92, 0.923, 0.925]), 0.999):
    r["study"] = "cifar_reference_long"
    r["device"] = dict(r["device"], platform="gpu", device_kind="NVIDIA H200")
    r["epochs"] = r.get("epochs", [{"epoch": 30.0, "train_accuracy": 0.9}])   # Read by its table.
    rows.append(r)
  _write(tmp_path, rows)
  row = _claim_row(report.render(tmp_path), 1)
  reference = "cifar_reference_long [fits: 30 epochs, 5,000 ? images, resnet_small, NVIDIA H200]"
  assert row.split(" | ")[1] == (f"**holds** — {reference}<br>*other regimes:*<br>"
                                 f"**does not hold** — {UNDERFITS}")
  # Error differences −1.0, −1.1, −1.2 points: mean −1.10, sd 0.1, t(2) 4.303 → ±0.25.
  assert (f"{reference}, top-1 error: cutmix − baseline: lower (-1.10 [-1.35, -0.85])"
          in row)

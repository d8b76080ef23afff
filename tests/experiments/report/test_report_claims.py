"""experiments.report.claims: each claim's verdict comes from the paired results, with
hand-computed intervals, and waits for 3 seeds."""

from experiments import report
from tests.experiments.report.test_report_sweeps import _cifar_methods, _interval, _write


def _claim_row(text, number):
  return next(line for line in text.splitlines() if line.startswith(f"| {number}. "))


def test_accuracy_and_calibration_claims_from_three_paired_seeds(tmp_path):
  base, cut = [0.66, 0.65, 0.655], [0.68, 0.675, 0.69]
  rows = _cifar_methods(base, cut)
  for r in rows:   # CutMix's ECE 1 point lower on every seed.
    if r["tags"]["method"] == "cutmix":
      r["analysis"] = {"calibration": dict(r["analysis"]["calibration"], ece=0.02)}
  _write(tmp_path, rows)
  text = report.render(tmp_path)
  mean, lo, hi = _interval([100 * (b - c) for b, c in zip(base, cut)])   # error difference
  assert hi < 0
  assert (f"cifar_methods, top-1 error: cutmix − baseline: lower ({mean:+.2f} [{lo:+.2f}, "
          f"{hi:+.2f}])") in _claim_row(text, 1)
  # Constant differences have a zero-width interval: −1 point on every seed.
  assert "ECE before scaling: cutmix − baseline: lower (-1.00 [-1.00, -1.00])" in \
      _claim_row(text, 2)
  assert "after temperature scaling: cutmix − baseline: no difference (+0.00" in \
      _claim_row(text, 2)
  assert "shapes_methods, top-1 error: no runs yet" in _claim_row(text, 1)


def test_no_verdict_before_three_seeds(tmp_path):
  _write(tmp_path, _cifar_methods([0.66, 0.65], [0.70, 0.69]))
  row = _claim_row(report.render(tmp_path), 1)
  assert "cutmix − baseline: 2 of 3 seeds so far" in row
  assert "lower" not in row and "higher" not in row


def test_holds_column_follows_the_primary_comparison(tmp_path):
  # CutMix 2–3 points less accurate on every seed: claim 1 does not hold here.
  _write(tmp_path, _cifar_methods([0.66, 0.65, 0.655], [0.64, 0.62, 0.63]))
  row = _claim_row(report.render(tmp_path), 1)
  assert row.split(" | ")[1] == "**does not hold**"
  # Differences of −1, +1, 0 points: the interval includes 0.
  _write(tmp_path, _cifar_methods([0.66, 0.65, 0.655], [0.67, 0.64, 0.655]))
  assert _claim_row(report.render(tmp_path), 1).split(" | ")[1] == "not shown (no difference)"
  _write(tmp_path, _cifar_methods([0.66, 0.65, 0.655], [0.68, 0.67, 0.665]))
  assert _claim_row(report.render(tmp_path), 1).split(" | ")[1] == "**holds**"
  assert _claim_row(report.render(tmp_path), 7).split(" | ")[1] == "pending (0 of 3 seeds)"


def test_reference_scale_status_follows_its_own_paired_seeds(tmp_path):
  # cifar_methods: CutMix worse on every seed; the reference-scale set: CutMix better.
  rows = _cifar_methods([0.66, 0.65, 0.655], [0.64, 0.62, 0.63])
  for r in _cifar_methods([0.91, 0.912, 0.913], [0.92, 0.923, 0.925]):
    r["study"] = "cifar_reference_long"
    r["epochs"] = [{"epoch": 30.0, "train_accuracy": 0.99}]   # The section reads it.
    rows.append(r)
  _write(tmp_path, rows)
  row = _claim_row(report.render(tmp_path), 1)
  assert "| **does not hold**<br>at reference scale: **holds** |" in row
  # Error differences −1.0, −1.1, −1.2 points: mean −1.10, sd 0.1, t(2) 4.303 → ±0.25.
  assert "cifar_reference_long, top-1 error: cutmix − baseline: lower (-1.10 [-1.35, -0.85])" in row


def test_no_reference_scale_status_without_its_results(tmp_path):
  _write(tmp_path, _cifar_methods([0.66, 0.65, 0.655], [0.64, 0.62, 0.63]))
  assert "reference scale" not in _claim_row(report.render(tmp_path), 1)

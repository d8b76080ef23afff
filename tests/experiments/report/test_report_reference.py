"""The reference study's report rows: a log completed by (some of) its result JSONs."""

import json

import pytest

from experiments import report
from experiments.report import reference as report_reference
from experiments.report import results

LOG = """decoded 50000 train / 10000 test images in 16.6s on NVIDIA H200
training with scan for 2 epochs
epoch 1/2: 10s, train accuracy 0.400 0.410 0.300 0.310
epoch 2/2: 20s, train accuracy 0.900 0.910 0.700 0.720
baseline/seed0: test accuracy 0.9000, ECE 0.0400
baseline/seed1: test accuracy 0.8900, ECE 0.0500
cutmix/seed0: test accuracy 0.9100, ECE 0.0300
cutmix/seed1: test accuracy 0.9050, ECE 0.0350
done in 100s (20s training); results in /root/out
"""


def _json_row(method, seed, accuracy):
  return {"study": "cifar_reference", "run": f"{method}/seed{seed}",
          "tags": {"method": method, "seed": seed}, "seed": seed,
          "config": {"num_epochs": 2, "mix": "none", "seed": seed, "model": "preact_resnet18"},
          "summary": {"eval_accuracy": accuracy, "eval_nll": 0.3},
          "analysis": {"calibration": {"ece": 0.04, "nll": 0.3}},
          "epochs": [{"epoch": 2.0, "train_accuracy": 0.9}],
          "device": {"platform": "gpu", "device_kind": "NVIDIA H200", "device_count": 1,
                     "cpu_count": 16},
          "finished_at": "2026-11-25T23:34:11+00:00", "git_commit": "f1e2eb2f36a4",
          "command": "python -m experiments.cifar_reference --epochs 2",
          "study_command": "python -m experiments.cifar_reference --epochs 2"}


def test_parse_log_reads_every_model_in_order():
  parsed = results.parse_log(LOG)
  assert [(p["method"], p["seed"]) for p in parsed] == [
      ("baseline", 0), ("baseline", 1), ("cutmix", 0), ("cutmix", 1)]
  assert [p["accuracy"] for p in parsed] == [0.9, 0.89, 0.91, 0.905]
  assert [p["ece"] for p in parsed] == [0.04, 0.05, 0.03, 0.035]
  # The last epoch's train accuracies, model by model (not the first epoch's).
  assert [p["train_accuracy"] for p in parsed] == [0.9, 0.91, 0.7, 0.72]
  assert {p["epochs"] for p in parsed} == {2}


@pytest.mark.parametrize("log,message", [
    ("epoch 1/1: 1s, train accuracy 0.5\n", "no '<method>/seed<k>"),
    # Training stopped early: the last epoch line is not the final epoch.
    (LOG.replace("epoch 2/2", "epoch 2/3").replace("epoch 1/2", "epoch 1/3"), "last epoch"),
    (LOG.replace("0.900 0.910 0.700 0.720", "0.900 0.910 0.700"), "last epoch"),
])
def test_parse_log_refuses_incomplete_logs(log, message):
  with pytest.raises(ValueError, match=message):
    results.parse_log(log)


def test_load_fills_missing_runs_from_the_log(tmp_path):
  (tmp_path / "run.log").write_text(LOG)
  (tmp_path / "baseline__seed0.json").write_text(json.dumps(_json_row("baseline", 0, 0.9)))
  rows = {(r["tags"]["method"], r["seed"]): r for r in results.load_folder(tmp_path)}
  assert sorted(rows) == [("baseline", 0), ("baseline", 1), ("cutmix", 0), ("cutmix", 1)]
  assert "from_log" not in rows[("baseline", 0)]          # The JSON is the row.
  assert rows[("baseline", 0)]["summary"]["eval_nll"] == 0.3
  filled = rows[("cutmix", 1)]
  assert filled["from_log"] == "run.log"
  assert filled["summary"] == {"eval_accuracy": 0.905}
  assert filled["analysis"]["calibration"] == {"ece": 0.035}
  assert filled["config"]["mix"] == "cutmix" and filled["config"]["seed"] == 1
  assert rows[("baseline", 1)]["config"]["mix"] == "none"
  assert filled["epochs"] == [{"epoch": 2.0, "train_accuracy": 0.72}]
  assert filled["device"]["device_kind"] == "NVIDIA H200"


def test_load_refuses_a_json_that_disagrees_with_the_log(tmp_path):
  (tmp_path / "run.log").write_text(LOG)
  (tmp_path / "cutmix__seed0.json").write_text(json.dumps(_json_row("cutmix", 0, 0.95)))
  with pytest.raises(ValueError, match="differs from its JSON"):
    results.load_folder(tmp_path)


def test_load_needs_one_json_for_provenance(tmp_path):
  (tmp_path / "run.log").write_text(LOG)
  with pytest.raises(ValueError, match="provenance"):
    results.load_folder(tmp_path)


def test_section_pairs_by_seed_with_hand_computed_differences(tmp_path):
  (tmp_path / "run.log").write_text(LOG)
  (tmp_path / "baseline__seed0.json").write_text(json.dumps(_json_row("baseline", 0, 0.9)))
  lines = report_reference.section_reference("cifar_reference",
                                             results.load_folder(tmp_path), tmp_path)
  table = "\n".join(lines)
  # Errors: baseline 10.0 / 11.0 → 10.50 ± 0.71; cutmix 9.0 / 9.5 → 9.25 ± 0.35.
  # Paired Δ: −1.0, −1.5 → mean −1.25, sd 0.3536, t(1) = 12.706 → ±3.18.
  assert "| baseline | 2 | 10.50 ± 0.71 | – |" in table
  assert "| cutmix | 2 | 9.25 ± 0.35 | -1.25 [-4.43, +1.93] |" in table
  # ECE: baseline 4.00 (JSON) / 5.00 (log); cutmix 3.00 / 3.50; Δ −1.0, −1.5.
  assert "| 4.50 ± 0.71 |" in table and "| 3.25 ± 0.35 | -1.25 [-4.43, +1.93] |" in table
  assert "cutmix/seed0, cutmix/seed1" in table and "baseline/seed1" in table
  assert report.provenance(results.load_folder(tmp_path)).startswith(
      "`python -m experiments.cifar_reference --epochs 2`; NVIDIA H200 ×1")


def test_provenance_names_each_invocation_of_a_grown_result_set(tmp_path):
  first = [_json_row("baseline", s, 0.9) for s in (0, 1)]
  second = [dict(_json_row("cutout", 0, 0.9), study_command="python -m x --methods cutout")]
  assert report.provenance(first).startswith(
      "`python -m experiments.cifar_reference --epochs 2`; NVIDIA")
  assert report.provenance(first + second).startswith(
      "`python -m experiments.cifar_reference --epochs 2` (2 runs); "
      "`python -m x --methods cutout` (1 run); NVIDIA")
  one = "\n".join(report_reference.section_reference("r", first, tmp_path))
  two = "\n".join(report_reference.section_reference("r", first + second, tmp_path))
  assert "all 2 models trained in one invocation" in one
  assert "3 models trained in 2 invocations of it" in two


def _with_occlusion(row, zeroed, mean_colour, centre):
  row = json.loads(json.dumps(row))
  row["analysis"]["occlusion"] = {"fractions": [0.0, 0.1, 0.25, 0.5],
                                  "random_zero": [0.9, 0.8, zeroed, 0.3],
                                  "random_mean": [0.9, 0.8, mean_colour, 0.3],
                                  "centre_mean": [0.9, 0.8, centre, 0.3]}
  return row


def test_occlusion_table_reads_the_curves_and_pairs_by_seed(tmp_path):
  rows = [_with_occlusion(_json_row("baseline", 0, 0.9), 0.60, 0.50, 0.40),
          _with_occlusion(_json_row("baseline", 1, 0.9), 0.62, 0.52, 0.36),
          _with_occlusion(_json_row("cutmix", 0, 0.9), 0.70, 0.75, 0.70),
          _with_occlusion(_json_row("cutmix", 1, 0.9), 0.74, 0.77, 0.72),
          _json_row("cutmix", 2, 0.9)]   # A row from the log: no curves, not counted.
  for r in rows:
    r["config"]["mix"] = r["tags"]["method"]
  table = "\n".join(report_reference.section_reference("x", rows, tmp_path))
  # Columns: clean, 10% / 25% zeroed, 25% mean colour, 25% centred, 50% zeroed, Δ at 25% zeroed.
  # Baseline zeroed 60 / 62 → 61.0 ± 1.4; CutMix 70 / 74 → 72.0 ± 2.8, paired Δ 10, 12: mean 11,
  # sd 1.414, t(1) 12.706 → ±12.7.
  assert ("| baseline | 90.0 ± 0.0 | 80.0 ± 0.0 | 61.0 ± 1.4 | 51.0 ± 1.4 | 38.0 ± 2.8 "
          "| 30.0 ± 0.0 | – |") in table
  assert ("| cutmix | 90.0 ± 0.0 | 80.0 ± 0.0 | 72.0 ± 2.8 | 76.0 ± 1.4 | 71.0 ± 1.4 "
          "| 30.0 ± 0.0 | +11.0 [-1.7, +23.7] |") in table
  assert (tmp_path / "x_occlusion.png").stat().st_size > 1000


def test_no_occlusion_table_without_curves(tmp_path):
  (tmp_path / "run.log").write_text(LOG)
  (tmp_path / "baseline__seed0.json").write_text(json.dumps(_json_row("baseline", 0, 0.9)))
  lines = report_reference.section_reference("x", results.load_folder(tmp_path), tmp_path)
  assert not any(line.startswith("Occlusion robustness") for line in lines)
  assert not list(tmp_path.glob("*.png"))

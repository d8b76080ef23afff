"""experiments.report renders tables from result JSONs with the right numbers and verdicts."""

import json

import numpy as np
import pytest

from experiments import report
from experiments.report import stats


def _rel():
  return {"edges": list(np.linspace(0, 1, 16)), "count": [1.0] * 15,
          "confidence": [0.5] * 15, "accuracy": [0.5] * 15}


def _result(study, method, seed, accuracy, ece=0.05):
  return {
      "study": study, "run": f"{method}/seed{seed}", "seed": seed,
      "tags": {"method": method, "seed": seed},
      "config": {"num_epochs": 30, "model": "resnet_small"},
      "summary": {"eval_accuracy": accuracy},
      "analysis": {"calibration": {"ece": ece, "nll": 1.0, "ece_scaled": ece / 2,
                                   "nll_scaled": 0.9, "temperature": 1.5,
                                   "reliability": _rel(), "reliability_scaled": _rel()}},
      "device": {"platform": "cpu", "device_kind": "cpu", "device_count": 1, "cpu_count": 2},
      "finished_at": f"2026-11-2{seed}T10:00:00+00:00", "git_commit": "abcdef1234",
  }


def _write(root, rows):
  for r in rows:
    folder = root / r["study"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{r['run'].replace('/', '__')}.json").write_text(json.dumps(r))


def test_methods_table_numbers_and_verdicts(tmp_path):
  base = [0.70, 0.72, 0.74]
  cut = [0.73, 0.745, 0.78]            # +3, +2.5, +4 points: the interval excludes 0.
  mix = [0.71, 0.70, 0.76]             # +1, −2, +2: the interval includes 0.
  rows = ([_result("cifar_methods", "baseline", s, a) for s, a in enumerate(base)]
          + [_result("cifar_methods", "cutmix", s, a) for s, a in enumerate(cut)]
          + [_result("cifar_methods", "mixup", s, a) for s, a in enumerate(mix)])
  _write(tmp_path, rows)
  text = report.render(tmp_path)
  err_base = [100 * (1 - a) for a in base]
  assert f"| baseline | 3 | {np.mean(err_base):.2f} ± {np.std(err_base, ddof=1):.2f} |" in text
  d = stats.paired_difference([1 - a for a in cut], [1 - a for a in base])
  assert d["hi"] < 0
  assert f"cutmix vs baseline: better top-1 error (paired Δ {d['mean'] * 100:+.2f}" in text
  assert "mixup vs baseline: no difference in top-1 error" in text
  # Order: baseline, then mixup, then cutmix (METHOD_ORDER), whatever the file order.
  assert text.index("| baseline |") < text.index("| mixup |") < text.index("| cutmix |")
  assert "2026-11-20 to 2026-11-22" in text and "seeds 0, 1, 2" in text
  assert (tmp_path / "figures" / "cifar_methods_reliability.png").stat().st_size > 1000


def test_replace_block_and_missing_markers():
  readme = "intro\n<!-- REPORT -->\nold\n<!-- /REPORT -->\noutro\n"
  assert report.replace_block(readme, "new\n") == (
      "intro\n<!-- REPORT -->\nnew\n<!-- /REPORT -->\noutro\n")
  with pytest.raises(ValueError, match="no <!-- REPORT -->"):
    report.replace_block("no markers", "x")


def test_train_accuracy_column_is_the_last_logged_epoch(tmp_path):
  rows = [_result("cifar_methods", "baseline", s, 0.7) for s in range(2)]
  rows[0]["epochs"] = [{"train_accuracy": 0.5}, {"train_accuracy": 0.74}]
  rows[1]["epochs"] = [{"train_accuracy": 0.76}, {"eval_accuracy": 0.7}]   # eval-only row last
  _write(tmp_path, rows)
  line = next(l for l in report.render(tmp_path).splitlines() if l.startswith("| baseline |"))
  assert line.endswith("| 75.00 ± 1.41 |")   # mean and sd of 74 and 76


def test_provenance_names_the_cpu_where_the_result_records_it():
  old = _result("cifar_methods", "baseline", 0, 0.7)   # Written before results named the CPU.
  assert "; cpu ×1 (2 cores); 2026-11-20;" in report.provenance([old])
  new = _result("cifar_methods", "baseline", 1, 0.7)
  new["device"].update(cpu_model="AMD EPYC 7B13", cpu_isa=["sse4_2", "avx", "avx2", "fma"])
  assert "; cpu ×1 (2 cores, AMD EPYC 7B13, AVX2); " in report.provenance([new])
  # Two machines: each named once.
  assert "; cpu ×1 (2 cores), cpu ×1 (2 cores, AMD EPYC 7B13, AVX2); " in report.provenance(
      [old, new])
  gpu = json.loads(json.dumps(new))
  gpu["device"].update(platform="gpu", device_kind="NVIDIA H200", cpu_isa=["avx512f", "avx2"])
  assert "; NVIDIA H200 ×1 (host AMD EPYC 7B13, AVX-512); " in report.provenance([gpu])

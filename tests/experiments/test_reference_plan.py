"""The reference-scale plan of claims 5 and 6 (experiments/reference_plan.py), without training.

Expected call counts and estimates are restated from the H200 measurement the plan documents
(cifar_reference_long: 60,970 training images/s over all scan-stacked models, decode 22 s,
compile 30 s per size, evaluation at three times the training rate); the recipe check reads the
committed cifar_reference_long JSONs whose baseline and CutMix runs both claims share.
"""

import itertools
import json
import pathlib

import numpy as np
import pytest

from experiments import cifar_reference
from experiments import reference_plan as plan
from experiments.report import sweeps

LONG = pathlib.Path(__file__).resolve().parents[2] / "experiments/results/cifar_reference_long"


def _seconds_per_model(n: int) -> float:
  """85 epochs of whole batches of 256 at 60,970 images/s, then n + 10k images evaluated."""
  return 85 * (n // 256) * 256 / 60970 + (n + 10000) / (3 * 60970)


def test_claims_hold_the_issues_runs():
  five = plan.claim5()
  assert five.name == "data_efficiency_reference"
  assert sorted((m.train_size, m.method, m.seed) for m in five.models) == sorted(
      itertools.product((5000, 10000, 25000), ("baseline", "cutmix"), (0, 1, 2)))
  for m in five.models:
    assert dict(m.tags) == {"method": m.method, "dataset": "cifar10_jpeg",
                            "train_size": m.train_size}
    assert m.run == f"cifar10_{m.train_size}/{m.method}/seed{m.seed}"
  six = plan.claim6()
  assert six.name == "aggressive_sampling_reference"
  # α ∈ {0.2, 1, 2} × p ∈ {0.5, 1} without α = 1, p = 0.5 (cifar_reference_long's CutMix),
  # plus p = 1 off for the last 10% of the 85 epochs; all 50k images; 3 seeds.
  want = {("alpha0.2/p0.5", 0.2, 0.5, 0.0), ("alpha0.2/p1", 0.2, 1.0, 0.0),
          ("alpha1/p1", 1.0, 1.0, 0.0), ("alpha2/p0.5", 2.0, 0.5, 0.0),
          ("alpha2/p1", 2.0, 1.0, 0.0), ("alpha1/p1/off_last8.5", 1.0, 1.0, 8.5)}
  got = {(m.setting, *(dict(m.overrides)[k] for k in ("cutmix_alpha", "mix_prob",
                                                      "mix_off_last_epochs")))
         for m in six.models}
  assert got == want
  assert sorted(m.seed for m in six.models) == [0] * 6 + [1] * 6 + [2] * 6
  assert all(m.train_size == 0 and m.method == "cutmix" for m in six.models)
  for claim in (five, six):
    runs = [m.run for m in claim.models]
    assert len(set(runs)) == len(runs) == 18


@pytest.mark.parametrize("claim", sorted(plan.CLAIMS))
@pytest.mark.parametrize("budget_s", [125.0, 200.0, 300.0, 480.0, 2000.0])
def test_split_covers_every_run_once_within_budget(claim, budget_s):
  models = plan.CLAIMS[claim]().models
  calls = plan.split(models, budget_s)
  assert [m for call in calls for m in call] == list(models)   # Each once, in plan order.
  for k, call in enumerate(calls):
    assert call and plan.call_seconds(call) <= budget_s
    if k + 1 < len(calls):   # Greedy: the next call's first model would not have fitted.
      assert plan.call_seconds(call + [calls[k + 1][0]]) > budget_s


def test_call_estimate_restates_the_h200_measurement():
  six = plan.claim6().models[:6]        # Seed 0's six settings, all 50k images: one group.
  assert plan.call_seconds(six) == pytest.approx(22 + 30 + 6 * _seconds_per_model(50000))
  five = plan.claim5().models            # Three sizes: three compiled groups in one call.
  expected = 22 + 3 * 30 + sum(6 * _seconds_per_model(n) for n in (5000, 10000, 25000))
  assert plan.call_seconds(five) == pytest.approx(expected)


def test_calls_per_claim_at_eight_minutes():
  """The numbers docs/experiments.md states: claim 5 in 1 call, claim 6 in 3 (one per seed)."""
  assert [len(c) for c in plan.split(plan.claim5().models)] == [18]
  calls = plan.split(plan.claim6().models)
  assert [len(c) for c in calls] == [6, 6, 6]
  assert [{m.seed for m in c} for c in calls] == [{0}, {1}, {2}]
  assert all(plan.call_seconds(c) <= 480 for c in calls)
  assert plan.call_seconds(calls[0]) > 480 - 20   # Near the limit: a seventh model would not fit.


def test_split_rejects_a_budget_below_one_model():
  with pytest.raises(ValueError, match="budget_s must fit one model"):
    plan.split(plan.claim6().models, 60.0)


def _rows(claim, configs, steps):
  """Result-like rows of a plan's models with the plan's configs (no training)."""
  return [{"run": m.run, "seed": m.seed, "tags": {**dict(m.tags), "seed": m.seed},
           "config": dict(configs[m.setting].to_dict(), seed=m.seed),
           "summary": {"steps": steps(m)}} for m in claim.models]


def _configs(claim):
  return {m.setting: cifar_reference.setting_configs(
      {m.setting: (m.method, dict(m.overrides))}, epochs=85, batch_size=256,
      learning_rate=0.2, train_size=m.train_size)[m.setting] for m in claim.models}


def test_plan_recipe_shares_cifar_reference_longs_runs():
  """Both claims take cifar_reference_long's baseline and CutMix (α = 1, p = 0.5) runs: the
  report shares them only while the plan's recipe equals theirs."""
  long = [json.loads(p.read_text()) for p in sorted(LONG.glob("*.json"))]
  results = {"cifar_reference_long": long}
  six = plan.claim6()
  groups, notes = sweeps.aggressive_groups(
      _rows(six, _configs(six), lambda m: 85 * 195), results, "cifar_reference_long")
  assert notes == []
  assert sorted(groups["baseline"]) == sorted(groups[sweeps.DEFAULT_SETTING]) == [0, 1, 2]
  assert groups[sweeps.DEFAULT_SETTING][0]["shared_from"] == "cifar_reference_long"
  five = plan.claim5()
  groups, notes = sweeps.efficiency_groups(
      "data_efficiency_reference",
      _rows(five, _configs(five), lambda m: 85 * (m.train_size // 256)), results)
  assert notes == []
  assert sorted(s for _, s in groups) == [5000, 10000, 25000, 50000]
  assert {m: sorted(g) for m, g in groups[("cifar10_jpeg", 50000)].items()} == {
      "baseline": [0, 1, 2], "cutmix": [0, 1, 2]}
  # A recipe that differs (here the peak learning rate) is not shared, and the report says so.
  other = _rows(six, _configs(six), lambda m: 85 * 195)
  for r in other:
    r["config"]["learning_rate"] = 0.1
  groups, notes = sweeps.aggressive_groups(other, results, "cifar_reference_long")
  assert "baseline" not in groups and any("learning_rate" in n for n in notes)


def test_list_prints_each_call_and_its_device_command(tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  (out / "alpha2__p1__seed1.json").write_text("{}")   # One run of call 2 done.
  lines = []
  assert plan.main(["claim6", "--list", "--out", str(out)], log=lines.append) == 0
  calls = [l for l in lines if l.startswith("call ")]
  assert [l.split(":")[0] for l in calls] == ["call 1/3", "call 2/3", "call 3/3"]
  assert "(0 done)" in calls[0] and "(1 done)" in calls[1]
  commands = [l for l in lines if l.strip().startswith("run(")]
  assert len(commands) == 3
  for k, command in enumerate(commands, 1):
    assert f"experiments.reference_plan claim6 --call {k} --archive data_cache/" in command
    assert "carry=['data_cache']" in command and "timeout 570" in command
    assert f"$OUT/aggressive_sampling_reference_call{k}.tgz" in command


@pytest.mark.parametrize("argv,message", [
    (["claim5", "--call", "2"], "--call must be in [1, 1]"),
    (["claim6", "--call", "0"], "--call must be in [1, 3]"),
    (["claim6", "--list", "--budget-s", "30"], "budget_s must fit one model"),
])
def test_main_rejects_calls_outside_the_plan(tmp_path, argv, message):
  archive = ["--archive", str(tmp_path)] if "--call" in argv else []   # Exists; never read.
  with pytest.raises(SystemExit) as e:
    plan.main(argv + archive, log=lambda *a, **k: None)
  assert message in str(e.value)


def test_call_needs_archive(capsys):
  with pytest.raises(SystemExit) as e:
    plan.main(["claim5", "--call", "1"])
  assert e.value.code == 2 and "--call needs --archive" in capsys.readouterr().err


def test_subset_keeps_a_class_balanced_nested_subset():
  """`--train-size` and the plan's sizes: every class equally, a smaller subset inside a larger
  one, the same for every call; mean and std over the kept images only."""
  rng = np.random.default_rng(0)
  labels = rng.permutation(np.repeat(np.arange(10), 7)).astype(np.int32)
  images = rng.integers(0, 256, (70, 4, 4, 3)).astype(np.uint8)
  images[:, 0, 0, 0] = np.arange(70)   # Each image names its row.
  train, test = {"image": images, "label": labels}, {"image": images[:5], "label": labels[:5]}
  names = tuple(f"c{i}" for i in range(10))
  kept = {}
  for size in (20, 40):
    got, got_test, info = cifar_reference.subset(train, test, names, size)
    kept[size] = set(got["image"][:, 0, 0, 0].tolist())
    assert np.array_equal(np.bincount(got["label"], minlength=10), [size // 10] * 10)
    assert np.array_equal(labels[sorted(kept[size])], got["label"])   # Rows kept whole.
    assert info.num_train == size and got_test is test
    pixels = images[sorted(kept[size])].reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(info.mean, pixels.mean(0))
    np.testing.assert_allclose(info.std, pixels.std(0))
  assert kept[20] < kept[40]
  again, _, _ = cifar_reference.subset(train, test, names, 20)
  assert set(again["image"][:, 0, 0, 0].tolist()) == kept[20]
  whole, _, info = cifar_reference.subset(train, test, names, 0)
  assert whole is train and info.num_train == 70


def test_call_needs_an_existing_archive(tmp_path, capsys):
  with pytest.raises(SystemExit) as e:
    plan.main(["claim6", "--call", "1", "--archive", str(tmp_path / "nope.tar.gz")])
  assert e.value.code == 2 and "nope.tar.gz does not exist" in capsys.readouterr().err

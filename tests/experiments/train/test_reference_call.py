"""A reference-plan call on CPU: per-model CutMix settings in the stacked step, and a tiny call
end to end (synthetic image folder → JSONs → the report's claim 5 and 6 rows → rerun skips).

The per-model reference restates each model alone: `train.train_step` with its own config's
augment function (`augment.make_augment_fn`, the trainer's path for α, prob and
`mix_off_last_epochs`), its init and mix keys split from the seed as `train_and_evaluate` does,
and the crop + flip of the NumPy pipeline fed the draws `stacked.crop_and_flip` documents.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from experiments import cifar_reference as cr
from experiments import reference_plan as plan
from experiments import train
from experiments.data import image_files
from experiments.data import registry as data_registry
from experiments.report import claims
from experiments.report import page
from experiments.report import sweeps
from experiments.train import augment
from experiments.train import classification
from experiments.train import stacked
from tests.experiments.train.test_cifar_reference import _reference_crop

HW, NUM_TRAIN, BATCH = 16, 32, 8
STEPS_PER_EPOCH, EPOCHS = NUM_TRAIN // BATCH, 2
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
NUM_STEPS = 5     # Mixing of "off" stops after step 3 (the last epoch, steps 4-7, is off).
INFO = data_registry.DatasetInfo(
    name="cifar10_jpeg", num_classes=10, image_shape=(HW, HW, 3), num_train=NUM_TRAIN,
    num_eval=0, mean=(125.3, 123.0, 113.9), std=(63.0, 62.1, 66.7),
    class_names=tuple(f"c{i}" for i in range(10)))
SETTINGS = {"alpha0.2/p1": ("cutmix", {"cutmix_alpha": 0.2, "mix_prob": 1.0}),
            "alpha2/p1": ("cutmix", {"cutmix_alpha": 2.0, "mix_prob": 1.0}),
            "off": ("cutmix", {"cutmix_alpha": 2.0, "mix_prob": 1.0,
                               "mix_off_last_epochs": 1.0})}
# Not method-major: a call's share of a plan (alpha2/p1 with a second seed after "off").
NAMES = [("alpha0.2/p1", 0), ("alpha2/p1", 0), ("off", 0), ("alpha2/p1", 1)]


def _reference_losses(configs, images, labels, idx, crop_keys):
  """[model][step] losses of each model trained alone with its own config's augment."""
  config = next(iter(configs.values()))
  tx = train.make_optimizer(config, train.make_schedule(config, STEPS_PER_EPOCH, TOTAL_STEPS))
  out = []
  for m, (setting, seed) in enumerate(NAMES):
    init_key, mix_key = jax.random.split(jax.random.key(seed))
    graphdef, _, state = train.create_train_state(config, INFO, tx, init_key)
    step = jax.jit(functools.partial(
        train.train_step, graphdef=graphdef, tx=tx,
        prepare=classification.prepare_from(augment.make_augment_fn(
            configs[setting], INFO, total_steps=TOTAL_STEPS, steps_per_epoch=STEPS_PER_EPOCH))))
    losses = []
    for i in range(NUM_STEPS):
      rows = idx[i, m]
      batch = {"image": jnp.asarray(_reference_crop(jax.random.fold_in(crop_keys[m], i),
                                                    images[rows])),
               "label": jnp.asarray(labels[rows])}
      state, metrics = step(state, batch, mix_key)
      losses.append(float(metrics["loss"]))
    out.append(losses)
  return np.asarray(out)


def test_stacked_step_gives_each_model_its_own_mix_settings():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (NUM_TRAIN, HW, HW, 3)).astype(np.uint8)
  labels = rng.integers(0, INFO.num_classes, NUM_TRAIN).astype(np.int32)
  configs = cr.setting_configs(SETTINGS, epochs=EPOCHS, batch_size=BATCH, learning_rate=0.1,
                               train_size=0, model_kwargs={"width": 4}, half_precision=False)
  assert configs["off"].mix_off_last_epochs == 1.0 and configs["alpha0.2/p1"].cutmix_alpha == 0.2
  graphdef, _, states, mix_keys, crop_keys, method_ids, names = stacked.init_models(
      configs, INFO, NAMES)
  np.testing.assert_array_equal(np.asarray(method_ids), [0, 1, 2, 1])
  # Two epochs of batches: steps 0-3 from epoch 0, step 4 from epoch 1.
  idx = np.concatenate([stacked.epoch_batches(names, e, NUM_TRAIN, BATCH) for e in (0, 1)])
  step_fn = stacked.make_train_step(configs, INFO, graphdef, STEPS_PER_EPOCH, "scan",
                                    mix_total_steps=TOTAL_STEPS)
  got = []
  for i in range(NUM_STEPS):
    states, metrics = stacked.run_step(step_fn, jnp.asarray(images), jnp.asarray(labels),
                                       crop_keys, mix_keys, method_ids, states, jnp.asarray(idx),
                                       i, TOTAL_STEPS)
    got.append(np.asarray(metrics["loss"]))
  want = _reference_losses(configs, images, labels, idx, crop_keys)
  np.testing.assert_allclose(np.asarray(got).T, want, rtol=1e-4, atol=1e-5)
  # The references tell the settings apart, so a model given another's mix would fail above:
  # α 0.2 vs 2 differ from the first step; "off" is α 2, p 1 (same seed) until its last epoch.
  assert not np.isclose(want[0, 0], want[1, 0], rtol=1e-3)
  np.testing.assert_allclose(want[2, :4], want[1, :4], rtol=1e-6)
  assert not np.isclose(want[2, 4], want[1, 4], rtol=1e-3)


def test_make_train_step_needs_the_length_for_mixing_off_at_the_end():
  configs = cr.setting_configs(SETTINGS, epochs=EPOCHS, batch_size=BATCH, learning_rate=0.1,
                               train_size=0, model_kwargs={"width": 4}, half_precision=False)
  with pytest.raises(ValueError, match="mix_off_last_epochs needs the run's total steps"):
    stacked.make_train_step(configs, INFO, None, STEPS_PER_EPOCH, "scan")


def test_setting_configs_refuse_fields_beyond_the_mix():
  with pytest.raises(ValueError, match="setting 'x' overrides \\['learning_rate'\\]"):
    cr.setting_configs({"x": ("cutmix", {"learning_rate": 0.3})}, epochs=1, batch_size=8,
                       learning_rate=0.1, train_size=0)


# ----------------------------------------------------------------------------- a call, end to end


def _tiny_archive(root, per_class=4):
  rng = np.random.default_rng(0)
  for split, n in (("train", per_class), ("test", 2)):
    for name in image_files.CIFAR10_CLASS_NAMES:
      (root / split / name).mkdir(parents=True)
      for k in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            root / split / name / f"{k}.png")
  return root


def _load(folder):
  return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


@pytest.fixture(scope="module")
def tiny_calls(tmp_path_factory):
  root = tmp_path_factory.mktemp("plan")
  archive, out = _tiny_archive(root / "data"), root / "results"
  recipe = plan.Recipe(epochs=2, batch_size=8, learning_rate=0.1, width=4)
  five, six = plan.claim5(sizes=(20, 10), seeds=(0,)), plan.claim6(seeds=(0,), recipe=recipe)
  for claim in (five, six):
    plan.run_call(claim, claim.models, archive=str(archive), out=out / claim.name,
                  command=f"python -m experiments.reference_plan {claim.name} --call 1",
                  code_commit="abc123", recipe=recipe, log=lambda line: None)
  return dict(archive=archive, out=out, recipe=recipe, five=five, six=six)


def test_call_writes_one_json_per_model_with_its_settings(tiny_calls):
  six = _load(tiny_calls["out"] / "aggressive_sampling_reference")
  assert sorted(r["run"] for r in six) == sorted(m.run for m in tiny_calls["six"].models)
  by_run = {r["run"]: r for r in six}
  for m in tiny_calls["six"].models:
    r = by_run[m.run]
    for field, value in m.overrides:
      assert r["config"][field] == value, (m.run, field)
    assert r["tags"] == {**dict(m.tags), "seed": 0} and r["config"]["mix"] == "cutmix"
    assert r["summary"]["steps"] == 2 * (40 // 8) and r["summary"]["models_stacked"] == 6
    assert r["git_commit"] == "abc123" and "--call 1" in r["command"]
    assert r["analysis"]["train_fit"]["images"] == 40 and "occlusion" not in r["analysis"]
  assert by_run["alpha1/p1/off_last0.2/seed0"]["config"]["mix_off_last_epochs"] == 0.2
  five = _load(tiny_calls["out"] / "data_efficiency_reference")
  sizes = {r["run"]: (r["config"]["train_size"], r["analysis"]["train_fit"]["images"])
           for r in five}
  assert sizes == {"cifar10_20/baseline/seed0": (20, 20), "cifar10_20/cutmix/seed0": (20, 20),
                   "cifar10_10/baseline/seed0": (10, 10), "cifar10_10/cutmix/seed0": (10, 10)}
  assert {r["summary"]["models_stacked"] for r in five} == {2}   # One stacked group per size.


def test_report_reads_the_calls_into_claims_5_and_6(tiny_calls):
  out = tiny_calls["out"]
  results = {name: _load(out / name) for name in plan.RESULT_SETS.values()}
  groups, _ = sweeps.efficiency_groups("data_efficiency_reference",
                                       results["data_efficiency_reference"], results)
  assert {k: sorted(g) for k, g in groups.items()} == {
      ("cifar10_jpeg", 10): ["baseline", "cutmix"], ("cifar10_jpeg", 20): ["baseline", "cutmix"]}
  assert "data_efficiency_reference: CIFAR-10 CutMix − baseline error" in claims.data_efficiency(
      results)
  groups, _ = sweeps.aggressive_groups(results["aggressive_sampling_reference"], results,
                                       "cifar_reference_long")
  assert sorted(groups) == sorted(m.setting for m in tiny_calls["six"].models)
  text = claims.aggressive(results)
  assert text.startswith("aggressive_sampling_reference")
  block = page.render(out)   # The generated page's sections, from these folders alone.
  assert "#### data_efficiency_reference (4 of 18 runs done)" in block
  assert "#### aggressive_sampling_reference (6 of 18 runs done)" in block
  assert "| alpha1/p1/off_last0.2 | 1 |" in block and "| cifar10_jpeg | 20 |" in block


def test_rerunning_a_call_trains_only_the_missing_runs(tiny_calls):
  five, out = tiny_calls["five"], tiny_calls["out"] / "data_efficiency_reference"
  kwargs = dict(archive=str(tiny_calls["archive"]), out=out, command="c", code_commit="def456",
                recipe=tiny_calls["recipe"], log=lambda line: None)
  before = {p.name: p.read_text() for p in out.glob("*.json")}
  assert plan.run_call(five, five.models, **kwargs) == []   # All done: nothing trained.
  assert {p.name: p.read_text() for p in out.glob("*.json")} == before
  (out / "cifar10_10__cutmix__seed0.json").unlink()
  written = plan.run_call(five, five.models, **kwargs)
  assert [p.name for p in written] == ["cifar10_10__cutmix__seed0.json"]
  after = {p.name: p.read_text() for p in out.glob("*.json")}
  assert json.loads(after["cifar10_10__cutmix__seed0.json"])["git_commit"] == "def456"
  assert {k: v for k, v in after.items() if k != "cifar10_10__cutmix__seed0.json"} == {
      k: v for k, v in before.items() if k != "cifar10_10__cutmix__seed0.json"}

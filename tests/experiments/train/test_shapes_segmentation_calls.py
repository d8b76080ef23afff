"""Calls of the claim48 and claim7 plans on CPU: the stacked segmentation step against each
U-Net trained alone, class activation maps against the logits, and tiny calls end to end
(generated shapes → JSONs → the report's claims 4, 7 and 8 → a rerun trains nothing).

The per-model reference restates each U-Net alone: `train.train_step` with its own config's
`segmentation.make_prepare`, init and mix keys split from the seed as `train_and_evaluate`
does, and image and mask cropped by the NumPy pipeline with the draws `stacked.crop_and_flip`
documents (the same window for both).
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import cifar_reference
from experiments import segmentation_reference as seg
from experiments import shapes_reference as shapes_plan
from experiments import train
from experiments.data import registry as data_registry
from experiments.report import claims
from experiments.report import headlines
from experiments.report import page
from experiments.train import segmentation
from experiments.train import stacked
from experiments.train import stacked_segmentation
from tests.experiments.train.test_cifar_reference import _reference_crop

HW, NUM_TRAIN, BATCH, NUM_STEPS = 16, 32, 8, 3
STEPS_PER_EPOCH = NUM_TRAIN // BATCH
NAMES = [("none", 0), ("cutmix_consistent", 0), ("none", 1)]


def _info(n=NUM_TRAIN):
  return data_registry.DatasetInfo(
      name="shapes_16x16", num_classes=10, image_shape=(HW, HW, 3), num_train=n, num_eval=0,
      mean=(120.0, 118.0, 110.0), std=(60.0, 61.0, 62.0),
      class_names=tuple(f"c{i}" for i in range(10)))


def _data():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (NUM_TRAIN, HW, HW, 3)).astype(np.uint8)
  masks = np.zeros((NUM_TRAIN, HW, HW), np.uint8)
  for k, (y, x) in enumerate(rng.integers(0, HW - 6, (NUM_TRAIN, 2))):
    masks[k, y:y + 6, x:x + 6] = 1   # An object away from the middle: flips and crops show.
  return images, masks, rng.integers(0, 10, NUM_TRAIN).astype(np.int32)


def _reference_losses(configs, info, images, masks, labels, idx, crop_keys):
  """[model][step] losses of each U-Net trained alone with its own method."""
  config = next(iter(configs.values()))
  tx = train.make_optimizer(config, train.make_schedule(config, STEPS_PER_EPOCH,
                                                        STEPS_PER_EPOCH))
  out = []
  for m, (method, seed) in enumerate(NAMES):
    init_key, mix_key = jax.random.split(jax.random.key(seed))
    graphdef, _, state = train.create_train_state(configs[method], info, tx, init_key)
    step = jax.jit(functools.partial(
        train.train_step, graphdef=graphdef, tx=tx, prepare=segmentation.make_prepare(
            configs[method], info, num_shards=1, total_steps=0,
            steps_per_epoch=STEPS_PER_EPOCH)))
    losses = []
    for i in range(NUM_STEPS):
      rows, key = idx[i, m], jax.random.fold_in(crop_keys[m], i)
      batch = {"image": jnp.asarray(_reference_crop(key, images[rows])),
               "object_mask": jnp.asarray(_reference_crop(key, masks[rows][..., None])[..., 0]),
               "label": jnp.asarray(labels[rows])}
      state, metrics = step(state, batch, mix_key)
      losses.append(float(metrics["loss"]))
    out.append(losses)
  return np.asarray(out)


def test_stacked_segmentation_step_trains_each_unet_as_alone():
  images, masks, labels = _data()
  info = _info()
  recipe = seg.Recipe(epochs=1, batch_size=BATCH, learning_rate=0.05, widths=(4, 8),
                      image_size=HW, num_train=NUM_TRAIN)
  configs = seg.configs_for(["none", "cutmix_consistent"], recipe)
  assert configs["cutmix_consistent"].method == "cutmix_consistent"
  graphdef, _, states, mix_keys, crop_keys, method_ids, names = stacked.init_models(
      configs, info, NAMES, create_model=segmentation.create_model)
  np.testing.assert_array_equal(np.asarray(method_ids), [0, 1, 0])
  idx = stacked.epoch_batches(names, 0, NUM_TRAIN, BATCH)
  step_fn = stacked_segmentation.make_train_step(configs, info, graphdef, STEPS_PER_EPOCH)
  data = {"image": jnp.asarray(images), "object_mask": jnp.asarray(masks)}
  got = []
  for i in range(NUM_STEPS):
    states, metrics = stacked.run_step(step_fn, data, jnp.asarray(labels), crop_keys, mix_keys,
                                       method_ids, states, jnp.asarray(idx), i, STEPS_PER_EPOCH)
    got.append(np.asarray(metrics["loss"]))
  want = _reference_losses(configs, info, images, masks, labels, idx, crop_keys)
  np.testing.assert_allclose(np.asarray(got).T, want, rtol=1e-4, atol=1e-5)
  # The references tell the methods and the seeds apart, so a model trained with another's
  # method, init or batches would fail above.
  assert not np.allclose(want[0], want[1], rtol=1e-3)
  assert not np.allclose(want[0], want[2], rtol=1e-3)


def test_class_maps_average_to_the_logits():
  """A CAM's mean over positions is the logit (head and mean commute): maps of the right
  model, class and position."""
  info = _info()
  configs = cifar_reference.setting_configs(
      {"baseline": ("baseline", {})}, epochs=1, batch_size=BATCH, learning_rate=0.1,
      train_size=0, model_kwargs={"width": 4, "blocks": 1}, half_precision=False,
      dataset=info.name, model="resnet_small")
  _, eval_graphdef, states, *_ = stacked.init_models(configs, info, [("baseline", 0),
                                                                     ("baseline", 1)])
  images = jnp.asarray(_data()[0][:5])
  maps = np.asarray(stacked.class_maps_fn(eval_graphdef, info)(states.params,
                                                               states.batch_stats, images))
  logits = np.asarray(stacked.eval_fn(eval_graphdef, info)(states.params, states.batch_stats,
                                                           images))
  assert maps.shape == (2, 5, HW // 4, HW // 4, 10)   # resnet_small: stride 4.
  np.testing.assert_allclose(maps.mean(axis=(2, 3)), logits, rtol=1e-4, atol=1e-5)
  assert not np.allclose(logits[0], logits[1])   # Two seeds, two models.


# ----------------------------------------------------------------------------- calls, end to end

SHAPES = shapes_plan.Recipe(epochs=1, batch_size=8, learning_rate=0.1, width=4, blocks=1,
                            image_size=HW, num_train=32, num_test=16, cutout_size=8)
SEGMENT = seg.Recipe(epochs=1, batch_size=8, learning_rate=0.05, widths=(4, 8), image_size=HW,
                     num_train=32, num_test=16)


def _load(folder):
  return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


@pytest.fixture(scope="module")
def tiny_calls(tmp_path_factory):
  out = tmp_path_factory.mktemp("calls")
  four = shapes_plan.claim48(seeds=(0, 1), methods=("baseline", "cutmix"))   # Two groups.
  seven = seg.claim7(seeds=(0, 1), methods=("none", "cutmix_images_only"))   # Two groups.
  quiet = lambda line: None
  shapes_plan.run_call(four, four.models, out=out / four.name, command="c48", code_commit="abc",
                       recipe=SHAPES, log=quiet)
  seg.run_call(seven, seven.models, out=out / seven.name, command="c7", code_commit="abc",
               recipe=SEGMENT, log=quiet)
  return dict(out=out, four=four, seven=seven)


def test_shapes_call_writes_accuracy_localization_and_occlusion(tiny_calls):
  rows = _load(tiny_calls["out"] / "shapes_methods_reference")
  assert sorted(r["run"] for r in rows) == ["baseline/seed0", "baseline/seed1", "cutmix/seed0",
                                            "cutmix/seed1"]
  for r in rows:
    assert r["tags"] == {"method": r["config"]["mix"].replace("none", "baseline"),
                         "seed": r["seed"]} and r["config"]["seed"] == r["seed"]
    assert r["config"]["dataset"] == "shapes_16x16" and r["config"]["model"] == "resnet_small"
    assert r["config"]["model_kwargs"] == {"width": 4, "blocks": 1}
    assert r["config"]["cutout_size"] == 8 and r["summary"]["models_stacked"] == 2
    assert r["summary"]["steps"] == 32 // 8 and r["git_commit"] == "abc"
    assert r["command"] == "c48" and r["device"]["platform"] == "cpu"
    loc = r["analysis"]["localization"]
    assert set(loc) == {"mean_iou", "gt_known_loc", "top1_loc", "threshold"}
    assert 0 <= loc["top1_loc"] <= loc["gt_known_loc"] <= 1
    # 16 test images: every rate is a multiple of 1/16.
    assert loc["gt_known_loc"] * 16 == pytest.approx(round(loc["gt_known_loc"] * 16))
    assert r["analysis"]["occlusion"]["fractions"] == [0.0, 0.1, 0.25, 0.5]
    assert r["analysis"]["occlusion"]["random_zero"][0] == pytest.approx(
        r["summary"]["eval_accuracy"])
    assert r["analysis"]["train_fit"]["images"] == 32
  cutmix = next(r for r in rows if r["run"] == "cutmix/seed0")
  assert cutmix["config"]["cutmix_alpha"] == 1.0 and cutmix["config"]["mix_prob"] == 0.5


def test_segmentation_call_writes_the_cpu_studys_fields(tiny_calls):
  rows = _load(tiny_calls["out"] / "segmentation_reference")
  assert sorted(r["run"] for r in rows) == ["cutmix_images_only/seed0", "cutmix_images_only/seed1",
                                            "none/seed0", "none/seed1"]
  for r in rows:
    s = r["summary"]
    confusion = np.asarray(s["confusion"], np.float64)
    assert confusion.sum() == 16 * HW * HW   # Every test pixel once.
    tp = np.diag(confusion)
    iou = tp / (confusion.sum(0) + confusion.sum(1) - tp)
    assert s["eval_miou"] == pytest.approx(np.nanmean(iou))
    assert s["eval_pixel_accuracy"] == pytest.approx(tp.sum() / confusion.sum())
    assert r["config"]["model_kwargs"] == {"widths": [4, 8]}
    assert r["config"]["dataset"] == "shapes_16x16" and r["config"]["targets"] == "object"
    assert set(r["analysis"]["train_fit"]) == {"miou", "pixel_accuracy", "object_iou", "images"}
    assert r["analysis"]["train_fit"]["images"] == 32 and r["tags"]["method"] == r["run"][:-6]
    assert s["models_stacked"] == 2 and len(r["epochs"]) == 1 and r["command"] == "c7"
  # One seed's models per stacked group: the second group trained models of its own seed.
  by_run = {r["run"]: r for r in rows}
  assert by_run["none/seed1"]["summary"]["confusion"] != by_run["none/seed0"]["summary"][
      "confusion"]


def test_report_reads_the_calls_into_claims_4_7_and_8(tiny_calls):
  out = tiny_calls["out"]
  results = {name: _load(out / name)
             for name in ("shapes_methods_reference", "segmentation_reference")}
  assert claims.localization(results).startswith("shapes_methods_reference [")
  assert "shapes_methods_reference [" in claims.occluding_patches(results)
  results["patch_stats_64"] = [{"op": "cutmix", "own_hidden": 0.0625, "partner_absent": 0.25}]
  assert ("patch_stats_64 (64×64): own object hidden: cutmix 6.2%; partner's object absent: "
          "cutmix 25.0%") in claims.occluding_patches(results)
  del results["patch_stats_64"]
  assert claims.segmentation(results).startswith("segmentation_reference [")
  table = "\n".join(headlines.claims_table(results))
  assert "pending (2 of 3 seeds) — shapes_methods_reference" in table
  assert "pending (2 of 3 seeds) — segmentation_reference" in table
  block = page.render(out)
  assert "#### shapes_methods_reference (4 of 21 runs done)" in block
  assert "CAM localization, shapes_methods_reference" in block
  assert "#### segmentation_reference (4 of 12 runs done)" in block
  assert "| cutmix_images_only | 2 |" in block
  assert "Not run yet: `python -m experiments.reference_plan claim5 --list" in block


def test_rerunning_a_call_trains_only_the_missing_runs(tiny_calls):
  seven, out = tiny_calls["seven"], tiny_calls["out"] / "segmentation_reference"
  kwargs = dict(out=out, command="c7", code_commit="def", recipe=SEGMENT, log=lambda line: None)
  before = {p.name: p.read_text() for p in out.glob("*.json")}
  assert seg.run_call(seven, seven.models, **kwargs) == []
  assert {p.name: p.read_text() for p in out.glob("*.json")} == before
  four, out4 = tiny_calls["four"], tiny_calls["out"] / "shapes_methods_reference"
  before4 = {p.name: p.read_text() for p in out4.glob("*.json")}
  (out4 / "cutmix__seed0.json").unlink()
  written = shapes_plan.run_call(four, four.models, out=out4, command="c48", code_commit="def",
                                 recipe=SHAPES, log=lambda line: None)
  assert [p.name for p in written] == ["cutmix__seed0.json"]
  after = {p.name: p.read_text() for p in out4.glob("*.json")}
  assert after["baseline__seed0.json"] == before4["baseline__seed0.json"]
  assert json.loads(after["cutmix__seed0.json"])["git_commit"] == "def"

"""Models: shapes, BatchNorm modes, bf16, and a few real train steps of each architecture."""

import functools
import types

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.train import augment
from experiments.train import classification
from experiments import models
from experiments import train
from experiments.configs import test as test_config

MEAN, STD = (127.5,) * 3, (64.0,) * 3


def make_step(config, num_classes):
  """A jitted train step (as the trainer builds it) and its initial state.

  The step is called as step(state, acc, batch, key) and adds the step's loss to acc["loss"].
  """
  schedule = train.make_schedule(config, steps_per_epoch=10, total_steps=100)
  tx = train.make_optimizer(config, schedule)
  info = types.SimpleNamespace(num_classes=num_classes, image_shape=(16, 16, 3), mean=MEAN,
                               std=STD)
  graphdef, eval_graphdef, state = train.create_train_state(config, info, tx, jax.random.key(0))
  jitted = jax.jit(functools.partial(
      train.train_step, graphdef=graphdef, tx=tx,
      prepare=classification.prepare_from(augment.make_augment_fn(config, info))),
      donate_argnums=(0,))

  def step(state, acc, batch, key):
    state, metrics = jitted(state, batch, key)
    return state, {"loss": acc["loss"] + metrics["loss"]}

  return step, state, eval_graphdef


def empty_accumulator():
  return {"loss": jnp.zeros((), jnp.float32)}


def random_batch(n, hw, num_classes, seed=0):
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (n, hw, hw, 3), dtype=np.uint8),
          "label": rng.integers(0, num_classes, n).astype(np.int32)}


def run_steps(model, model_kwargs, *, n=4, hw=16, steps=2, mix="cutmix"):
  config = test_config.get_config()
  config.model = model
  config.model_kwargs = model_kwargs
  config.mix = mix
  step, state, _ = make_step(config, 10)
  before = jax.tree_util.tree_map(np.array, (state.params, state.batch_stats))
  acc = empty_accumulator()
  key = jax.random.key(1)
  for i in range(steps):
    state, acc = step(state, acc, random_batch(n, hw, 10, seed=i), key)
  after = jax.tree_util.tree_map(np.array, (state.params, state.batch_stats))
  assert int(state.step) == steps
  assert np.isfinite(float(acc["loss"]))
  changed = jax.tree_util.tree_map(lambda a, b: not np.array_equal(a, b), before, after)
  # Every parameter and every BatchNorm statistic moved.
  assert all(jax.tree_util.tree_leaves(changed))
  return state


@pytest.mark.parametrize("name,kwargs", [
    ("resnet_small", {}),
    ("resnet18", {}),
    ("preact_resnet18", {"width": 8}),
    # Depth/width-reduced; full size in test_full_width_heavy_models (slow).
    ("wrn28_10", {"depth": 10, "widen_factor": 1}),
    # The bottleneck ResNet also trains in test_in_channels_... and test_full_width_heavy_models.
    pytest.param("resnet50", {"width": 8, "stage_sizes": (1, 1, 1, 1)}, marks=pytest.mark.slow),
])
def test_two_train_steps(name, kwargs):
  state = run_steps(name, kwargs, hw=8)  # asserts finite loss and that every leaf moved
  assert int(state.step) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["wrn28_10", "resnet50"])
def test_full_width_heavy_models(name):
  state = run_steps(name, {}, n=2, hw=16, steps=1)
  assert int(state.step) == 1


@pytest.mark.parametrize("name,params", [
    ("resnet18", 11_173_962),         # torchvision/kuangliu CIFAR ResNet-18.
    ("preact_resnet18", 11_172_170),  # kuangliu's 11,171,146 + final BN (2 x 512).
    ("wrn28_10", 36_479_194),         # WRN-28-10 as in the paper.
    ("resnet50", 25_557_032),         # torchvision ResNet-50 at 1000 classes.
    ("airbench", 1_972_792),          # airbench94's make_net(): sum of p.numel().
])
def test_parameter_counts(name, params):
  num_classes = 1000 if name == "resnet50" else 10
  model = nnx.eval_shape(lambda: models.create_model(name, num_classes, nnx.Rngs(0)))
  assert models.num_params(model) == params


def test_unknown_model_lists_choices():
  with pytest.raises(ValueError, match="Unknown model 'resnet19'.*resnet18"):
    models.create_model("resnet19", 10, nnx.Rngs(0))


def test_batchnorm_train_updates_stats_eval_uses_them():
  model = models.create_model("resnet_small", 10, nnx.Rngs(0), width=4)
  x = jax.random.normal(jax.random.key(0), (8, 16, 16, 3)) * 3 + 1
  stats0 = jax.tree_util.tree_map(np.array, nnx.state(model, nnx.BatchStat))
  model.eval()
  y_eval1 = model(x)
  stats1 = jax.tree_util.tree_map(np.array, nnx.state(model, nnx.BatchStat))
  jax.tree_util.tree_map(np.testing.assert_array_equal, stats0, stats1)
  # Eval output does not depend on the rest of the batch.
  np.testing.assert_allclose(model(x[:2]), y_eval1[:2], rtol=1e-5, atol=1e-5)
  model.train()
  y_train = model(x)
  stats2 = jax.tree_util.tree_map(np.array, nnx.state(model, nnx.BatchStat))
  assert not np.allclose(stats2["stem_bn"]["mean"], stats0["stem_bn"]["mean"])
  assert not np.allclose(y_train, y_eval1, atol=1e-3)


def test_bfloat16_compute_float32_params_and_logits():
  model = models.create_model("resnet_small", 10, nnx.Rngs(0), width=4,
                              dtype=jnp.bfloat16)
  params = jax.tree_util.tree_leaves(nnx.state(model, nnx.Param))
  assert all(p.dtype == jnp.float32 for p in params)
  logits = model(jnp.ones((2, 16, 16, 3)))
  assert logits.dtype == jnp.float32
  # Activations really are bf16: the output differs from the float32 model's.
  model32 = models.create_model("resnet_small", 10, nnx.Rngs(0), width=4)
  assert not np.array_equal(np.asarray(model32(jnp.ones((2, 16, 16, 3)))),
                            np.asarray(logits))


@pytest.mark.parametrize("mix", ["none", "cutmix"])
def test_overfits_one_batch(mix):
  config = test_config.get_config()
  config.model_kwargs.width = 8
  config.mix = mix
  config.weight_decay = 0.0
  config.learning_rate = 0.05
  step, state, eval_graphdef = make_step(config, 10)
  batch = random_batch(32, 16, 10)
  key = jax.random.key(0)
  losses = []
  for _ in range(60):
    state, acc = step(state, empty_accumulator(), batch, key)
    losses.append(float(acc["loss"]))
  assert losses[0] > 2.0
  if mix == "none":
    assert losses[-1] < 0.1 * losses[0], losses[::10]
    logits = train.eval_logits(state.params, state.batch_stats, batch["image"],
                               graphdef=eval_graphdef, mean=MEAN, std=STD)
    assert np.mean(np.argmax(logits, -1) == batch["label"]) == 1.0
  else:
    # The mixed targets change every step (new λ and boxes), so the loss cannot reach
    # zero; it must still fall well below chance.
    assert np.mean(losses[-10:]) < 0.6 * losses[0], losses[::10]


@pytest.mark.parametrize("name,kwargs", [
    ("resnet_small", {"width": 4}),
    ("resnet18", {"width": 4}),
    ("preact_resnet18", {"width": 4}),
    ("wrn28_10", {"depth": 10, "widen_factor": 1}),
    ("resnet50", {"width": 4, "stage_sizes": (1, 1, 1, 1)}),
    ("airbench", {"width": 4}),
])
def test_in_channels_one_trains_on_28x28x1(name, kwargs):
  """Fashion-MNIST shape: the stem takes one channel (a 3-channel stem would fail)."""
  model = models.create_model(name, 10, nnx.Rngs(0), in_channels=1, **kwargs)
  first = model.whiten if name == "airbench" else model.stem
  assert first.kernel[...].shape[2] == 1
  x = jax.random.normal(jax.random.key(0), (2, 28, 28, 1))
  assert model(x).shape == (2, 10)
  with pytest.raises(Exception):
    model(jnp.ones((2, 28, 28, 3)))


@pytest.mark.parametrize("name,kwargs,hw,fhw", [
    ("resnet_small", {"width": 4}, 16, 4),
    ("preact_resnet18", {"width": 4}, 16, 2),
    ("resnet50", {"width": 4, "stage_sizes": (1, 1, 1, 1)}, 64, 2),
])
def test_features_is_the_map_the_head_pools(name, kwargs, hw, fhw):
  """Class-activation maps: logits = head(mean(features)) restated in NumPy."""
  model = models.create_model(name, 10, nnx.Rngs(0), **kwargs)
  model.eval()
  x = jax.random.normal(jax.random.key(1), (3, hw, hw, 3))
  f = np.asarray(model.features(x), np.float64)
  assert f.shape[:3] == (3, fhw, fhw)
  kernel = np.asarray(model.head.kernel[...], np.float64)
  bias = np.asarray(model.head.bias[...], np.float64)
  cam = np.einsum("nhwc,ck->nhwk", f, kernel)  # per-location class scores
  want = cam.mean((1, 2)) + bias
  np.testing.assert_allclose(np.asarray(model(x)), want, rtol=1e-4, atol=1e-4)


def test_airbench_logits_are_max_pooled_features_times_head_over_nine():
  model = models.create_model("airbench", 10, nnx.Rngs(0), width=8)
  model.eval()
  x = jax.random.normal(jax.random.key(2), (3, 32, 32, 3))
  f = np.asarray(model.features(x), np.float64)
  assert f.shape == (3, 3, 3, 32)  # 32 → 31 → 15 → 7 → 3
  want = f.max((1, 2)) @ np.asarray(model.head.kernel[...], np.float64) / 9
  np.testing.assert_allclose(np.asarray(model(x)), want, rtol=1e-4, atol=1e-5)


def test_airbench_convs_start_as_identity():
  """Dirac init: a group's second conv maps its input to itself at initialization."""
  model = models.create_model("airbench", 10, nnx.Rngs(0), width=4)
  conv = model.groups[0].conv2
  x = jax.random.normal(jax.random.key(0), (1, 5, 5, 4))
  np.testing.assert_allclose(np.asarray(conv(x)), np.asarray(x), rtol=1e-6, atol=1e-6)

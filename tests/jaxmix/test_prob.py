"""`prob=` on every op: one gate in the skeleton, word 0 of each sample's row.

A sample whose gate is off comes back exactly unchanged (image, label row, masks, boxes,
extras); one whose gate is on equals the ungated op's output. The gate is restated here
in NumPy from the public words: sample i reads row i (elem), row min(i, B − 1 − i) (pair)
or row 0 (batch) of `random_words(key, ...)`, and mixes
when ((w₀ >> 9) + ½)·2⁻²³ < prob.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix

B, H, W, K = 6, 8, 10, 5
OPTIONS = {"cutmix": {}, "mixup": {}, "resizemix": {}, "saliencymix": {}, "fmix": {},
           "gridmix": {}, "smoothmix": {}, "cutout": {"size": 4}}


def _inputs():
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (B, H, W, 3)), jnp.float32)
  masks = jnp.asarray(rng.integers(0, K, (B, H, W)), jnp.int32)
  boxes = {"boxes": jnp.asarray([[[1.0, 1.0, 6.0, 5.0]]] * B), "valid": jnp.ones((B, 1), bool)}
  return images, jnp.arange(B) % K, masks, boxes


def _gate(key, name, mode, prob):
  """The documented gate, restated: which samples mix."""
  rows = {"batch": np.zeros(B, int), "elem": np.arange(B),
          "pair": np.minimum(np.arange(B), B - 1 - np.arange(B))}[mode]
  w0 = np.asarray(jaxmix.random_words(key, B, 1))[:, 0]
  return (((w0 >> 9).astype(np.float64) + 0.5) * 2.0 ** -23)[rows] < prob


def _call(name, mode):
  op = jaxmix.OPS[name]
  images, labels, masks, boxes = _inputs()
  kwargs = dict(OPTIONS[name], mode=mode, num_classes=K, masks=masks, boxes=boxes,
                extras=(images + 1.0,))
  traces = []

  @jax.jit
  def run(key, prob):
    traces.append(1)
    return op(key, images, labels, prob=prob, **kwargs)

  return run, traces, (images, labels, masks, boxes)


def _unmixed(name, images, labels, masks, boxes):
  rows = jaxmix.one_hot(labels, K)
  if name in ("mixup", "smoothmix"):  # a blend turns integer masks into soft rows
    masks = jaxmix.one_hot_map(masks, K)
  ones = np.ones((B, 1), np.float32)
  if name == "cutout":  # boxes keep their N slots
    return images, labels, masks, {**boxes, "weights": ones}, images + 1.0
  # 2N slots: the sample's own boxes, then dropped partner slots (zero corners).
  two = lambda a, b: np.concatenate([a, b], axis=1)
  boxes = {"boxes": two(boxes["boxes"], np.zeros_like(boxes["boxes"])),
           "valid": two(boxes["valid"], np.zeros((B, 1), bool)),
           "weights": two(ones, 0 * ones)}
  return images, rows, masks, boxes, images + 1.0


@pytest.mark.parametrize("name", sorted(OPTIONS))
@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
def test_gate_keeps_inactive_samples_unchanged(name, mode):
  if name == "cutout" and mode == "pair":
    pytest.skip("cutout has no partners")
  run, traces, inputs = _call(name, mode)
  want_none = jax.tree.map(np.asarray, _unmixed(name, *inputs))
  changed, split = [], []
  for seed in (3, 4, 5):
    key = jax.random.key(seed)
    full = jax.tree.map(np.asarray, run(key, 1.0))
    half = jax.tree.map(np.asarray, run(key, 0.5))
    none = jax.tree.map(np.asarray, run(key, 0.0))
    for got, want in zip(jax.tree.leaves(none), jax.tree.leaves(want_none)):
      np.testing.assert_array_equal(got, want.astype(got.dtype))
    active = _gate(key, name, mode, 0.5)
    for got, on, off in zip(jax.tree.leaves(half), jax.tree.leaves(full),
                            jax.tree.leaves(none)):
      np.testing.assert_array_equal(got[active], on[active])
      np.testing.assert_array_equal(got[~active], off[~active])
    changed.append(not np.array_equal(full[0], want_none[0]))
    split.append(active.any() and not active.all())
  assert len(traces) == 1  # a traced prob (and key) does not retrace
  # Power: the ungated op changes the batch, and the gate splits some batches.
  assert any(changed)
  assert any(split) if mode != "batch" else not all(split)


def test_prob_one_equals_the_default_and_cutmix_single():
  images, labels, _, _ = _inputs()
  key = jax.random.key(4)
  default = jaxmix.cutmix(key, images, labels, num_classes=K)
  gated = jax.jit(lambda p: jaxmix.cutmix(key, images, labels, num_classes=K, prob=p))(1.0)
  for a, b in zip(default, gated):
    np.testing.assert_array_equal(a, b)


def test_traced_prob_outside_the_unit_interval_makes_labels_nan():
  images, labels, _, _ = _inputs()
  run = jax.jit(lambda p: jaxmix.mixup(jax.random.key(0), images, labels, num_classes=K,
                                       prob=p))
  assert np.isnan(np.asarray(run(1.5)[1])).all()
  assert np.isfinite(np.asarray(run(0.5)[1])).all()
  with pytest.raises(ValueError, match="prob must be in"):
    jaxmix.cutmix(jax.random.key(0), images, labels, num_classes=K, prob=1.5)


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_policy_gate_is_the_skeletons(mode):
  images, labels, _, _ = _inputs()
  key = jax.random.key(5)
  config = jaxmix.MixConfig(num_classes=K, mixup_alpha=0.8, cutmix_alpha=1.0, prob=0.5,
                            mode=mode)
  got_x, got_y = (np.asarray(a) for a in jaxmix.mix(key, images, labels, config))
  on_x, on_y = (np.asarray(a) for a in jaxmix.mix(
      key, images, labels, config.__class__(**{**config.__dict__, "prob": 1.0})))
  active = _gate(key, "mix", mode, 0.5)
  np.testing.assert_array_equal(got_x[active], on_x[active])
  np.testing.assert_array_equal(got_x[~active], np.asarray(images)[~active])
  np.testing.assert_array_equal(got_y[~active], np.asarray(jaxmix.one_hot(labels, K))[~active])
  params = jaxmix.sample_mix_params(key, config, B, H, W)
  np.testing.assert_array_equal(np.broadcast_to(np.asarray(params["active"]), (B,)), active)
  assert (np.broadcast_to(np.asarray(params["lam"]), (B,))[~active] == 1.0).all()

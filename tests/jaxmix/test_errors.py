"""Bad input raises a clear error that names the argument, at trace time."""

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jaxmix

X = jnp.zeros((4, 8, 8, 3), jnp.uint8)
Y = jnp.arange(4)


@pytest.mark.parametrize("call, match", [
    (lambda: jaxmix.cutmix(jax.random.key(0), X[0], Y, num_classes=4), "images must have rank 4"),
    (lambda: jaxmix.mixup(jax.random.key(0), X[..., 0], Y, num_classes=4), "images must have rank 4"),
    (lambda: jaxmix.cutout(jax.random.key(0), X[0], size=2), "images must have rank 4"),
    (lambda: jaxmix.cutmix_single(jax.random.key(0), X, X), "image must have rank 3"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y[:3], num_classes=4), "same batch size"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y), "num_classes is required"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=3), r"labels must be in \[0, 3\)"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, -Y, num_classes=4), r"labels must be in \[0, 4\)"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, alpha=0.0), "alpha must be > 0"),
    (lambda: jaxmix.mixup(jax.random.key(0), X, Y, num_classes=4, alpha=-1.0), "alpha must be > 0"),
    (lambda: jaxmix.sample_lam(jax.random.key(0), 0.0), "alpha must be > 0"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, mode="foo"), "mode must be one of"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, partner="bar"), "partner must be one of"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, data_format="HWC"), "data_format"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, minmax=(0.5, 0.2)), "minmax"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, minmax=(0.0, 0.5)), "minmax"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, minmax=(0.5, 1.2)), "minmax"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, mode="pair", partner="roll"),
     "partner must be 'flip'"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, num_shards=3), "divisible"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, label_smoothing=1.5),
     r"label_smoothing must be in \[0, 1\]"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, jnp.ones((4, 5)), num_classes=4), "classes"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y.astype(bool), num_classes=4), "labels must be"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X.astype(bool), Y, num_classes=4), "dtype"),
    (lambda: jaxmix.cutout(jax.random.key(0), X, size=0), "size must be an int >= 1"),
    (lambda: jaxmix.cutout(jax.random.key(0), X, size=2, fill=300), "out of range"),
    (lambda: jaxmix.cutout(jax.random.key(0), X, size=2, fill=[1, 2]), "one per channel"),
    (lambda: jaxmix.cutout(jax.random.key(0), X, size=2, mode="pair"), "mode must be one of"),
    (lambda: jaxmix.random_erasing(jax.random.key(0), X, prob=1.5), r"prob must be in \[0, 1\]"),
    (lambda: jaxmix.random_erasing(jax.random.key(0), X, area=(0.5, 0.1)), "area"),
    (lambda: jaxmix.MixConfig(num_classes=4, prob=-0.1), r"prob must be in \[0, 1\]"),
    (lambda: jaxmix.MixConfig(num_classes=4, switch_prob=2.0), r"switch_prob must be in \[0, 1\]"),
    (lambda: jaxmix.MixConfig(num_classes=4, label_smoothing=-1.0), "label_smoothing"),
    (lambda: jaxmix.MixConfig(num_classes=4, mixup_alpha=-1.0), "mixup_alpha must be >= 0"),
    (lambda: jaxmix.MixConfig(num_classes=4, mixup_alpha=0.0, cutmix_alpha=0.0), "at least one of"),
    (lambda: jaxmix.MixConfig(num_classes=4, mode="pair", partner="permute"), "partner must be 'flip'"),
    (lambda: jaxmix.MixConfig(num_classes=0), "num_classes"),
    (lambda: jaxmix.mix(jax.random.key(0), X, Y, {"num_classes": 4}), "MixConfig"),
    # Defect 5: α = ∞ and fills the dtype cannot hold are refused.
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, alpha=np.inf), "alpha must be > 0"),
    (lambda: jaxmix.mixup(jax.random.key(0), X, Y, num_classes=4, alpha=np.inf), "alpha must be > 0"),
    (lambda: jaxmix.sample_lam(jax.random.key(0), float("inf")), "alpha must be > 0"),
    (lambda: jaxmix.MixConfig(num_classes=4, mixup_alpha=np.inf), "mixup_alpha must be >= 0 and finite"),
    (lambda: jaxmix.MixConfig(num_classes=4, cutmix_alpha=np.inf), "cutmix_alpha must be >= 0 and finite"),
    (lambda: jaxmix.cutout(jax.random.key(0), X.astype(jnp.float16), size=2, fill=1e5), "out of range"),
    (lambda: jaxmix.cutout(jax.random.key(0), X, size=2, fill=float("nan")), "out of range"),
    (lambda: jaxmix.cutout(jax.random.key(0), X, size=2, fill=[0, np.nan, 0]), "out of range"),
    # Defect 8: no silent 1000-wide rows when num_classes is forgotten.
    (lambda: jaxmix.MixConfig(), "num_classes is required"),
    (lambda: jaxmix.MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0), "num_classes is required"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, box_convention="keras"),
     "box_convention must be one of"),
    (lambda: jaxmix.mixup(jax.random.key(0), X, Y, num_classes=4, num_mixed=3, partner="flip"),
     "partner must be 'roll'"),
    (lambda: jaxmix.mixup(jax.random.key(0), X, Y, num_classes=4, num_mixed=1), "num_mixed"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X[:3], Y[:3], num_classes=4, mode="device",
                           num_shards=2), "divisible"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, multi_label=True),
     "multi_label targets must have rank 2"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, method="patch",
                           axis_name="data"), "does not support axis_name"),
    # One public function per op: target options by name, a typo refused.
    (lambda: jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=4, mask=X[..., 0]),
     r"cutmix\(\) got unexpected keyword argument\(s\) \['mask'\]"),
    (lambda: jaxmix.cutout(jax.random.key(0), X, size=2, box=None), r"cutout\(\) got unexpected"),
    (lambda: jaxmix.mixup(jax.random.key(0), X, Y, num_classes=4, num_mixed=3, partner="roll",
                          masks=X[..., 0]), "num_mixed must be 2"),
    (lambda: jaxmix.mixup(jax.random.key(0), X, Y, masks=X[..., 0]), "num_classes is required"),
    (lambda: jaxmix.mix(jax.random.key(0), X, Y, jaxmix.MixConfig(num_classes=4),
                        boxes={"boxes": np.zeros((4, 1, 4)), "valid": np.ones((4, 1), bool)}),
     "jaxmix.mix does not mix boxes"),
    (lambda: jaxmix.mix(jax.random.key(0), X, Y, jaxmix.MixConfig(num_classes=4),
                        mask=X[..., 0]), r"mix\(\) got unexpected keyword argument\(s\) \['mask'\]"),
    (lambda: jaxmix.mix(jax.random.key(0), X, Y, jaxmix.MixConfig(num_classes=4),
                        masks=X[:, :2, :, 0]), "integer dense targets must have shape"),
])
def test_bad_input_raises_clear_error(call, match):
  with pytest.raises((ValueError, TypeError), match=match):
    call()


def test_errors_raise_at_trace_time_under_jit():
  with pytest.raises(ValueError, match="same batch size"):
    jax.jit(functools.partial(jaxmix.cutmix, num_classes=4))(jax.random.key(0), X, Y[:2])
  with pytest.raises(ValueError, match="images must have rank 4"):
    jax.jit(functools.partial(jaxmix.cutout, size=2))(jax.random.key(0), X[0])


def test_out_of_range_ids_under_jit_give_nan_rows_not_silent_labels():
  rows = jax.jit(lambda y: jaxmix.one_hot(y, 4))(jnp.array([0, 4, -1, 3]))
  rows = np.asarray(rows)
  assert np.isnan(rows[1]).all() and np.isnan(rows[2]).all()
  np.testing.assert_array_equal(rows[[0, 3]], np.eye(4)[[0, 3]])


def test_checkify_path_raises_for_out_of_range_ids_inside_jit():
  config = jaxmix.MixConfig(num_classes=4)

  def step(key, x, y):
    jaxmix.check_label_ids(y, config.num_classes)
    return jaxmix.mix(key, x, y, config)

  checked = checkify.checkify(jax.jit(step))
  err, _ = checked(jax.random.key(0), X, Y)
  err.throw()  # valid ids: no error
  err, _ = checked(jax.random.key(0), X, Y + 1)
  with pytest.raises(Exception, match=r"labels must be in \[0, 4\)"):
    err.throw()


def test_one_trace_per_shape_across_numeric_settings():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(key, x, y, config):
    return jaxmix.mix(key, x, y, config)

  for i, (ma, ca, p, sp, s) in enumerate([(0.8, 1.0, 1.0, 0.5, 0.1), (0.2, 0.0, 0.5, 0.0, 0.0),
                                          (0.0, 2.0, 0.0, 1.0, 0.3), (1.0, 1.0, 0.7, 0.2, 0.0)]):
    config = jaxmix.MixConfig(mixup_alpha=ma, cutmix_alpha=ca, prob=p, switch_prob=sp,
                              label_smoothing=s, num_classes=4, mode="elem")
    out, rows = step(jax.random.key(i), X, Y, config)
    np.testing.assert_allclose(np.asarray(rows).sum(1), 1.0, atol=1e-6)
  chex.clear_trace_counter()


def test_one_trace_for_traced_alpha_in_ops():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(key, x, y, alpha):
    a, ra = jaxmix.cutmix(key, x, y, num_classes=4, alpha=alpha, mode="elem")
    b, rb = jaxmix.mixup(key, x, y, num_classes=4, alpha=alpha, mode="elem")
    return a, b, ra, rb

  for alpha in (0.2, 1.0, 3.0):
    step(jax.random.key(0), X, Y, jnp.float32(alpha))
  chex.clear_trace_counter()


def test_policy_alpha_zero_disables_op():
  images = jnp.asarray(np.random.RandomState(0).rand(16, 8, 8, 3), jnp.float32)
  only_mixup = jaxmix.MixConfig(mixup_alpha=1.0, cutmix_alpha=0.0, num_classes=4, mode="elem")
  only_cutmix = jaxmix.MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=4, mode="elem")
  b, h, w = 16, 8, 8
  p1 = jaxmix.sample_mix_params(jax.random.key(1), only_mixup, b, h, w)
  p2 = jaxmix.sample_mix_params(jax.random.key(1), only_cutmix, b, h, w)
  assert not np.asarray(p1["use_cutmix"]).any() and np.asarray(p2["use_cutmix"]).all()
  del images


def test_traced_non_positive_alpha_gives_nan_not_a_plausible_lam():
  sample = jax.jit(lambda a: jaxmix.sample_lam(jax.random.key(0), a, (16,)))
  for alpha in (0.0, -0.5, -1.0):
    assert np.isnan(np.asarray(sample(jnp.float32(alpha)))).all(), alpha
  assert np.isfinite(np.asarray(sample(jnp.float32(0.5)))).all()


def test_invalid_traced_config_values_give_nan_labels():
  valid = jaxmix.MixConfig(num_classes=4, mode="elem")
  assert np.isfinite(np.asarray(jax.jit(jaxmix.mix)(jax.random.key(0), X, Y, valid)[1])).all()
  for field, value in (("mixup_alpha", -0.5), ("cutmix_alpha", -1.0), ("prob", 1.5),
                       ("switch_prob", -0.1), ("label_smoothing", 2.0),
                       ("mixup_alpha", np.inf), ("cutmix_alpha", np.inf)):
    # Inside jit the value is a tracer, so the config cannot validate it on construction.
    step = jax.jit(lambda k, x, y, v, f=field: jaxmix.mix(
        k, x, y, dataclasses.replace(valid, **{f: v})))
    rows = np.asarray(step(jax.random.key(0), X, Y, jnp.float32(value))[1])
    assert np.isnan(rows).all(), field


# ---------------------------------------------------------------------------
# Defects of issue 7, each with a test that failed before its fix.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
@pytest.mark.parametrize("alpha", [-1.0, 0.0, np.inf])
def test_cutmix_traced_invalid_alpha_gives_nan_labels_not_a_silent_noop(mode, alpha):
  """Defect 1 (and 5): the NaN λ of a traced α <= 0 or ∞ made an empty box, and the
  corrected λ then read 1: the input came back with clean rows. Now the rows are NaN."""
  x = jnp.asarray(np.random.RandomState(0).randint(0, 256, (4, 8, 8, 3)), jnp.uint8)
  step = jax.jit(lambda a: jaxmix.cutmix(jax.random.key(0), x, Y, alpha=a, num_classes=4,
                                         mode=mode))
  rows = np.asarray(step(jnp.float32(alpha))[1])
  assert np.isnan(rows).all(), rows
  # A valid traced α still gives finite rows through the same compiled function.
  assert np.isfinite(np.asarray(step(jnp.float32(1.0))[1])).all()


def test_mixup_traced_infinite_alpha_gives_nan_labels():
  step = jax.jit(lambda a: jaxmix.mixup(jax.random.key(0), X, Y, alpha=a, num_classes=4))
  assert np.isnan(np.asarray(step(jnp.float32(np.inf))[1])).all()
  assert np.isnan(np.asarray(jax.jit(lambda a: jaxmix.sample_lam(jax.random.key(0), a))(
      jnp.float32(np.inf))))


def test_numpy_integers_are_accepted_where_ints_are():
  """Defect 7: np.int64 sizes were refused with a confusing message."""
  config = jaxmix.MixConfig(num_classes=np.int64(4), num_shards=np.int32(1))
  assert type(config.num_classes) is int and config.num_classes == 4
  rows = jaxmix.mix(jax.random.key(0), X, Y, config)[1]
  assert rows.shape == (4, 4)
  np.testing.assert_array_equal(
      np.asarray(jaxmix.cutout(jax.random.key(1), X + 1, size=np.int64(4))),
      np.asarray(jaxmix.cutout(jax.random.key(1), X + 1, size=4)))
  np.testing.assert_array_equal(np.asarray(jaxmix.one_hot(Y, np.int64(4))), np.eye(4))
  out = jaxmix.cutmix(jax.random.key(0), X, Y, num_classes=np.int16(4), num_shards=np.int64(2))
  assert out[1].shape == (4, 4)


def test_traced_num_classes_says_how_to_make_it_static():
  """Defect 7: `jax.jit(jaxmix.cutmix)(..., num_classes=10)` failed with "got JitTracer"."""
  with pytest.raises(TypeError, match=r"num_classes must be a static Python int.*static_argnames"):
    jax.jit(jaxmix.cutmix)(jax.random.key(0), X, Y, num_classes=10)
  with pytest.raises(TypeError, match=r"size must be a static Python int"):
    jax.jit(jaxmix.cutout)(jax.random.key(0), X, size=4)
  # The hint works: static, it compiles.
  rows = jax.jit(jaxmix.cutmix, static_argnames=("num_classes",))(
      jax.random.key(0), X, Y, num_classes=10)[1]
  assert rows.shape == (4, 10)


def test_defaults_are_consistent_across_ops_and_timm_alphas():
  """Defect 8: MixConfig's α were DeiT's (0.8, 1.0), its smoothing 0.1 against the
  functions' 0.0, and cutout's mode "elem" against the others' "batch"."""
  import inspect
  default = lambda f, name: inspect.signature(f).parameters[name].default
  config = jaxmix.MixConfig(num_classes=4)
  # timm.data.Mixup's signature (1.0.31): mixup_alpha=1., cutmix_alpha=0., prob=1.0,
  # switch_prob=0.5, correct_lam=True.
  assert (config.mixup_alpha, config.cutmix_alpha, config.prob, config.switch_prob,
          config.correct_lam) == (1.0, 0.0, 1.0, 0.5, True)
  smoothing = {default(jaxmix.cutmix, "label_smoothing"), default(jaxmix.mixup, "label_smoothing"),
               default(jaxmix.one_hot, "smoothing"), default(jaxmix.label_rows, "smoothing"),
               config.label_smoothing}
  assert smoothing == {0.0}
  modes = {default(jaxmix.cutmix, "mode"), default(jaxmix.mixup, "mode"),
           default(jaxmix.cutout, "mode"), config.mode}
  assert modes == {"elem"}
  conventions = {default(jaxmix.cutmix, "box_convention"), config.box_convention,
                 default(jaxmix.box_from_centre, "box_convention"),
                 default(jaxmix.sample_box_minmax, "box_convention")}
  assert conventions == {"official"}


# ---------------------------------------------------------------------------
# Issue 17: every argument named, targets checked against the batch.
# ---------------------------------------------------------------------------

X7 = jnp.zeros((7, 12, 16, 3), jnp.float32)
Y7 = jnp.arange(7)
DETS = {"boxes": np.zeros((7, 2, 4), np.float32)}


@pytest.mark.parametrize("call, match", [
    # Case 6: extras of the wrong width, height or batch are refused, naming `extras`.
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7,
                           extras=(jnp.zeros((7, 12, 8, 3)),)), r"extras\[0\] must have rank 4"),
    (lambda: jaxmix.fmix(jax.random.key(0), X7, Y7, num_classes=7,
                         extras=(jnp.zeros((7, 12, 1, 3)),)), r"extras\[0\].*\[7, 12, 16\]"),
    (lambda: jaxmix.mixup(jax.random.key(0), X7, Y7, num_classes=7,
                          extras=(X7, jnp.zeros((6, 12, 16, 3)))), r"extras\[1\]"),
    (lambda: jaxmix.resizemix(jax.random.key(0), X7, Y7, num_classes=7,
                              extras=(jnp.zeros((7, 12, 16)),)), r"extras\[0\] must have rank 4"),
    (lambda: jaxmix.cutout(jax.random.key(0), X7, size=4, extras=(jnp.zeros((7, 5, 16, 1)),)),
     r"extras\[0\]"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7, extras=X7),
     "extras must be a tuple of arrays"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7,
                           extras=(X7.astype(bool),)), r"extras\[0\] must have an integer or"),
    # Masks and boxes name their argument.
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7, masks=[[0]]),
     "masks must be an array"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7,
                           masks=jnp.zeros((7, 12, 16), bool)), "masks must be integer maps"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7,
                           masks=jnp.zeros((7, 12, 15), jnp.int32)), "masks: integer dense"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7, boxes=np.zeros((7, 2, 4))),
     "boxes must be a dict"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7,
                           boxes={**DETS, "classes": np.zeros((7, 3))}),
     r"boxes\['classes'\] must have leading shape"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7, boxes=DETS,
                           min_visible=float("nan")), r"min_visible must be in \[0, 1\]"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7,
                           masks=jnp.zeros((7, 12, 16), jnp.int32), ignore_value="none"),
     "ignore_value must be an int"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7, boxes=DETS,
                           normalized_boxes="yes"), "normalized_boxes must be a bool"),
    (lambda: jaxmix.cutmix(jax.random.key(0), X7, Y7, num_classes=7, correct_lam=None),
     "correct_lam must be a bool"),
    (lambda: jaxmix.mixup(jax.random.key(0), X7, Y7, num_classes=7, multi_label="no"),
     "multi_label must be a bool"),
    # Case 7: numbers finite and in range, tuples of the right length, sorted boundaries.
    (lambda: jaxmix.fmix(jax.random.key(0), X7, Y7, num_classes=7, decay_power=float("nan")),
     "decay_power must be >= 0 and finite"),
    (lambda: jaxmix.fmix(jax.random.key(0), X7, Y7, num_classes=7, decay_power=-1.0),
     "decay_power must be >= 0"),
    (lambda: jaxmix.fmix(jax.random.key(0), X7, Y7, num_classes=7, max_soft=float("nan")),
     r"max_soft must be in \[0, 0.5\]"),
    (lambda: jaxmix.gridmix(jax.random.key(0), X7, Y7, num_classes=7, n_holes=(1, 2, 3)),
     r"n_holes must be a pair \(lo, hi\)"),
    (lambda: jaxmix.gridmix(jax.random.key(0), X7, Y7, num_classes=7, n_holes=(1.5, 3)),
     "n_holes must be integers"),
    (lambda: jaxmix.gridmix(jax.random.key(0), X7, Y7, num_classes=7,
                            hole_aspect_ratio=float("inf")), "hole_aspect_ratio must be"),
    (lambda: jaxmix.gridmix(jax.random.key(0), X7, Y7, num_classes=7,
                            cut_aspect_ratio=(2.0, 1.0)), "cut_aspect_ratio must be"),
    (lambda: jaxmix.smoothmix(jax.random.key(0), X7, Y7, num_classes=7,
                              sigma_range=(0.1, 0.2, 0.3)), r"sigma_range must be a pair"),
    (lambda: jaxmix.smoothmix(jax.random.key(0), X7, Y7, num_classes=7,
                              sigma_range=(0.1, float("inf"))), "sigma_range must satisfy"),
    (lambda: jaxmix.resizemix(jax.random.key(0), X7, Y7, num_classes=7, scale=0.5),
     r"scale must be a pair"),
    (lambda: jaxmix.resizemix(jax.random.key(0), X7, Y7, num_classes=7,
                              scale=(0.5, float("nan"))), r"scale must satisfy 0 < lo <= hi <= 1"),
    (lambda: jaxmix.saliencymix(jax.random.key(0), X7, Y7, num_classes=7, sigma=float("inf")),
     "sigma must be > 0 and finite"),
    (lambda: jaxmix.random_erasing(jax.random.key(0), X7, area=(0.1, 0.2, 0.3)),
     r"area must be a pair"),
    (lambda: jaxmix.random_erasing(jax.random.key(0), X7, aspect=(float("nan"), 2.0)),
     "aspect must satisfy"),
    (lambda: jaxmix.random_erasing(jax.random.key(0), X7, attempts=0),
     "attempts must be an int >= 1"),
    (lambda: jaxmix.schedules.join([jaxmix.schedules.constant(0.0)] * 3, [20, 5]),
     "boundaries must be finite and sorted"),
    (lambda: jaxmix.schedules.join([0.5, 1.0], [5]), "schedules must be callables"),
    (lambda: jaxmix.schedules.constant(float("nan")), "value must be finite"),
    (lambda: jaxmix.schedules.cosine(1.0, 100, end=float("inf")), "end must be finite"),
    (lambda: jaxmix.schedules.linear_warmup(float("nan"), 10), "value must be finite"),
    (lambda: jaxmix.schedules.off_last(1.0, 10, 20), "off_steps must be <= total_steps=10"),
])
def test_issue17_bad_arguments_raise_one_line_errors_naming_them(call, match):
  with pytest.raises((ValueError, TypeError), match=match) as info:
    call()
  assert "\n" not in str(info.value)


def test_issue17_target_shapes_are_checked_at_trace_time_under_jit():
  step = jax.jit(lambda k, x, e: jaxmix.cutmix(k, x, Y7, num_classes=7, extras=(e,)))
  with pytest.raises(ValueError, match=r"extras\[0\]"):
    step(jax.random.key(0), X7, jnp.zeros((7, 12, 8, 3)))


def test_issue17_traced_invalid_decay_power_gives_nan_labels():
  step = jax.jit(lambda d: jaxmix.fmix(jax.random.key(0), X7, Y7, num_classes=7,
                                       decay_power=d)[1])
  assert np.isnan(np.asarray(step(jnp.float32(np.nan)))).all()
  assert np.isfinite(np.asarray(step(jnp.float32(3.0)))).all()


def test_issue17_num_mixed_larger_than_the_group_wraps_around():
  """num_mixed > group size is defined: partner k is i − k mod the group size, so a sample
  meets itself or a partner again and their weights add up. With a group of 2 and n = 4,
  sample i mixes x_i (w0 + w2) with x_{1−i} (w1 + w3); weights sorted, so x_i keeps >= 1/2."""
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 4, 4, 3)), jnp.float32)
  for seed in range(3):
    out, rows = jaxmix.mixup(jax.random.key(seed), x, jnp.arange(2), num_classes=2,
                             num_mixed=4, partner="roll", alpha=1.0)
    rows, xs = np.asarray(rows, np.float64), np.asarray(x, np.float64)
    np.testing.assert_allclose(rows.sum(1), 1.0, atol=1e-6)
    for i in range(2):
      assert rows[i, i] >= 0.5 - 1e-6
      want = rows[i, i] * xs[i] + rows[i, 1 - i] * xs[1 - i]
      np.testing.assert_allclose(np.asarray(out[i]), want, rtol=1e-5, atol=1e-6)

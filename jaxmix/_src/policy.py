"""The timm-equivalent mixing policy: `MixConfig` + `mix(key, images, labels, config)`.

Mirrors `timm.data.Mixup`: with probability `prob` a batch (or sample) is mixed;
when both α are positive, CutMix is chosen with probability `switch_prob`,
otherwise Mixup; an α of 0 switches that op off; `cutmix_minmax` replaces the
Beta-λ box by timm's min/max box (and forces CutMix on, as timm sets α = 1).
"""

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import batch
from jaxmix._src import boxes
from jaxmix._src import mixing
from jaxmix._src import modes
from jaxmix._src import sampling
from jaxmix._src.cutmix import paste_box
from jaxmix._src.mixup import blend


_SCHEDULABLE = ("mixup_alpha", "cutmix_alpha", "prob", "switch_prob")


@dataclasses.dataclass(frozen=True)
class MixConfig:
  """Settings of the mixing policy (timm's `Mixup` arguments, plus partners and shards).

  `num_classes` is required (a forgotten K must not silently give 1000-wide rows).
  Defaults are timm's `Mixup` defaults where jaxmix has one policy for all ops:
  `mixup_alpha=1.0, cutmix_alpha=0.0` (timm), `label_smoothing=0.0` and
  `mode="elem"` (the same defaults as `jaxmix.cutmix` / `mixup` / `cutout`; timm's
  are 0.1 and "batch": pass them to match timm), `box_convention="official"`.

  It is a pytree: the numeric settings (`mixup_alpha`, `cutmix_alpha`, `prob`,
  `switch_prob`, `label_smoothing`) are leaves, so a jitted step that takes the
  config as an argument does not retrace when they change; the rest (including
  `cutmix_minmax`, whose box sides are computed in float64 as timm does) are
  static. Concrete values are validated on construction (ValueError). Values
  traced inside `jit` cannot raise: if they are invalid, `mix` returns NaN label
  rows. Two traced α of 0 mean "no mixing" (an α scheduled to 0).

  `mixup_alpha`, `cutmix_alpha`, `prob` and `switch_prob` may also be schedules
  (`jaxmix.schedules`, any `step -> value`): `mix(..., step=step)` evaluates them
  at a (traced) step. A config holding schedules is closed over, not passed as a
  jit argument (functions are not arrays).
  """
  mixup_alpha: float = 1.0
  cutmix_alpha: float = 0.0
  cutmix_minmax: Optional[tuple[float, float]] = None
  prob: float = 1.0
  switch_prob: float = 0.5
  label_smoothing: float = 0.0
  num_classes: Optional[int] = None
  mode: str = "elem"
  partner: str = "flip"
  correct_lam: bool = True
  num_shards: int = 1
  data_format: str = "NHWC"
  box_convention: str = "official"
  multi_label: bool = False
  axis_name: Any = None

  def __post_init__(self):
    if self.num_classes is None:
      raise ValueError("num_classes is required (the width of the label rows), got None")
    object.__setattr__(self, "num_classes", _checks.static_int("num_classes", self.num_classes))
    object.__setattr__(self, "num_shards", _checks.static_int("num_shards", self.num_shards))
    object.__setattr__(self, "cutmix_minmax", _checks.check_minmax(self.cutmix_minmax))
    _checks.check_non_negative("mixup_alpha", self.mixup_alpha)
    _checks.check_non_negative("cutmix_alpha", self.cutmix_alpha)
    _checks.check_probability("prob", self.prob)
    _checks.check_probability("switch_prob", self.switch_prob)
    _checks.check_probability("label_smoothing", self.label_smoothing)
    _checks.check_choice("mode", self.mode, _checks.MODES)
    _checks.check_choice("partner", self.partner, _checks.PARTNERS)
    _checks.check_choice("data_format", self.data_format, _checks.DATA_FORMATS)
    _checks.check_choice("box_convention", self.box_convention, _checks.BOX_CONVENTIONS)
    modes.check_pair_partner(self.mode, self.partner)
    alphas = [_checks.concrete_value(a) for a in (self.mixup_alpha, self.cutmix_alpha)]
    if (self.cutmix_minmax is None and all(a is not None for a in alphas)
        and not any(float(a) > 0 for a in alphas)):
      raise ValueError("at least one of mixup_alpha and cutmix_alpha must be > 0 "
                       f"(or cutmix_minmax set), got {alphas[0]} and {alphas[1]}")

  def at_step(self, step) -> "MixConfig":
    """This config with every schedule replaced by its value at `step` (may be traced)."""
    values = {f: getattr(self, f)(step) for f in _SCHEDULABLE if callable(getattr(self, f))}
    return dataclasses.replace(self, **values) if values else self


jax.tree_util.register_dataclass(
    MixConfig,
    data_fields=["mixup_alpha", "cutmix_alpha", "prob", "switch_prob", "label_smoothing"],
    meta_fields=["cutmix_minmax", "num_classes", "mode", "partner", "correct_lam",
                 "num_shards", "data_format", "box_convention", "multi_label", "axis_name"])


# Words of one policy draw: the switch (1), λ (sampling.LAM_WORDS), then the centre
# (boxes.CENTRE_WORDS) or timm's min/max box (boxes.MINMAX_WORDS).
_LAM_AT, _BOX_AT = 1, 1 + sampling.LAM_WORDS


def _num_words(config: MixConfig) -> int:
  return _BOX_AT + (boxes.CENTRE_WORDS if config.cutmix_minmax is None else boxes.MINMAX_WORDS)


def _sampler(config: MixConfig, height: int, width: int):
  """One sample's (or one batch's) draw of timm's `_params_per_elem` / `_params_per_batch`,
  less the `prob` gate (the skeleton's: `mixing.draw`)."""
  mixup_alpha = jnp.asarray(config.mixup_alpha, jnp.float32)
  cutmix_alpha = jnp.asarray(config.cutmix_alpha, jnp.float32)
  mixup_on = (mixup_alpha > 0) & jnp.isfinite(mixup_alpha)
  cutmix_drawn = (cutmix_alpha > 0) & jnp.isfinite(cutmix_alpha)
  cutmix_on = cutmix_drawn | (config.cutmix_minmax is not None)

  def draw(words):
    use_cutmix = jnp.where(mixup_on & cutmix_on,
                           sampling.unit(words[0]) < config.switch_prob, cutmix_on)
    # One λ from the chosen op's α; an α of 0 switches that op off, and draws with
    # α = 1 there so no NaN is drawn (timm's minmax CutMix also sets α = 1).
    alpha = jnp.where(use_cutmix, jnp.where(cutmix_drawn, cutmix_alpha, 1.0),
                      jnp.where(mixup_on, mixup_alpha, 1.0))
    lam = sampling.beta_from_words(words[_LAM_AT:_BOX_AT], alpha)
    # timm skips mixing when λ == 1 (Beta returned 1). Both α traced to 0 (a
    # schedule switching mixing off): nothing is applied.
    apply = (lam != 1.0) & (mixup_on | cutmix_on)
    lam = jnp.where(apply, lam, 1.0)
    if config.cutmix_minmax is None:
      cy, cx = boxes.centre_from_words(words[_BOX_AT:], height, width)
      box = boxes.box_from_centre(lam, cy, cx, height, width,
                                  box_convention=config.box_convention)
    else:
      box = boxes.box_minmax_from_words(words[_BOX_AT:], config.cutmix_minmax, height, width,
                                        box_convention=config.box_convention)
    box = boxes.Box(*(jnp.where(apply & use_cutmix, c, 0) for c in box))
    if config.correct_lam or config.cutmix_minmax is not None:
      label_lam = jnp.where(use_cutmix, boxes.corrected_lam(box, height, width), lam)
    else:
      label_lam = lam
    return {"lam": lam, "use_cutmix": use_cutmix, "box": box, "label_lam": label_lam}

  return draw


def sample_mix_params(key: jax.Array, config: MixConfig, batch_size: int,
                      height: int, width: int) -> dict:
  """The draws `mix` uses: λ, CutMix-or-Mixup, box, label λ and the gate (scalars or [B]).

  `mix(key, ...)` draws these from `key` itself (`jaxmix.mix_batch`). Where
  the gate is off ("active" False: word 0's uniform >= `config.prob`) the sample is
  not mixed, and λ and the label λ read 1 and the box is empty, as timm's.
  With `config.axis_name` (inside `shard_map`), `batch_size` is the local one.
  """
  op = mixing.MixOp(draw=_sampler(config, height, width), num_words=_num_words(config),
                    apply=None, weights=None)
  active, params = mixing.draw(key, op, config.mode, batch_size, config.num_shards,
                               config.axis_name, prob=config.prob)
  if active is None:  # a concrete prob of 1
    active = jnp.ones_like(params["use_cutmix"], dtype=bool)
  box = boxes.Box(*(jnp.where(active, c, 0) for c in params["box"]))
  return {**params, "lam": jnp.where(active, params["lam"], 1.0), "box": box,
          "label_lam": jnp.where(active, params["label_lam"], 1.0), "active": active}


def mix(key: jax.Array, images: jax.Array, labels: jax.Array,
        config: MixConfig, *, step=None, **targets) -> tuple[jax.Array, jax.Array]:
  """Applies the timm-equivalent Mixup / CutMix policy to a batch.

  Equivalent to `timm.data.Mixup(...)(x, target)` with the same settings, given
  the same draws, for `partner="flip"` (timm's only pairing); labels become
  timm's `mixup_target`: smoothed one-hot rows, λ·y + (1 − λ)·y_flip.

  Args:
    key: PRNG key (e.g. `jax.random.fold_in(base_key, step)` in a train step).
    images: [B, H, W, C] (or NCHW per `config.data_format`), dtype kept.
    labels: integer ids [B] or float rows [B, K] with K = `config.num_classes`.
    config: a `MixConfig`.
    step: the training step (may be traced); required when the config holds
      schedules, which are evaluated at it.
    **targets: `masks=` (dense targets), `extras=` (arrays laid out like the
      images) and `ignore_value=`, mixed with the same draws and partners. The
      policy pastes for some draws and blends for others, so masks come back as
      float32 soft rows [B, H, W, K] (NCHW: [B, K, H, W]) either way: a pasted
      pixel's row is exactly the one-hot row of the pixel it shows, a blended
      pixel's row is λ·own + (1 − λ)·partner; integer maps are one-hot over
      `config.num_classes` first (ignored pixels: zero rows). `boxes=` is
      refused: a blend keeps both images' boxes, a paste cuts them, and one
      output cannot be both; use `jaxmix.cutmix` / `jaxmix.mixup` for boxes.

  Returns:
    (mixed_images, label_rows[, mixed_masks]) plus the mixed extras, if any:
    label rows are float32 [B, K] summing to 1 (multi-hot rows with
    `multi_label`).
  """
  if not isinstance(config, MixConfig):
    raise TypeError(f"config must be a jaxmix.MixConfig, got {type(config).__name__}")
  if targets.get("boxes") is not None:
    raise ValueError("jaxmix.mix does not mix boxes: the policy pastes for some draws and "
                     "blends for others; use jaxmix.cutmix or jaxmix.mixup with boxes=")
  if step is None and any(callable(getattr(config, f)) for f in _SCHEDULABLE):
    raise ValueError("config holds schedules; pass step= to mix to evaluate them")
  if step is not None:
    config = config.at_step(step)
  _checks.check_images(images)
  height, width = _layout.image_size(images, config.data_format)

  def geometry(params):
    """The image's own weight per pixel: 0 inside a pasted box, λ for a blend."""
    pasted = boxes.box_mask(params["box"], height, width).astype(jnp.float32)
    lam = jnp.asarray(params["lam"], jnp.float32)[..., None, None]
    use_cutmix = jnp.asarray(params["use_cutmix"])[..., None, None]
    return ("mask", jnp.where(use_cutmix, 1.0 - pasted, lam))

  out = batch.run_op(key, images, labels, policy_op(config, images), geometry,
                     mode=config.mode, partner=config.partner, num_shards=config.num_shards,
                     num_classes=config.num_classes, label_smoothing=config.label_smoothing,
                     data_format=config.data_format, axis_name=config.axis_name,
                     multi_label=config.multi_label, name="mix", prob=config.prob, **targets)
  # Traced settings cannot raise inside jit; invalid ones make the labels NaN (loud).
  return (out[0], jnp.where(_settings_valid(config), out[1], jnp.nan)) + tuple(out[2:])


def policy_op(config: MixConfig, images: jax.Array) -> mixing.MixOp:
  """The policy as a `MixOp`: per draw, CutMix's paste or Mixup's blend."""
  height, width = _layout.image_size(images, config.data_format)

  def apply(params, x, partner_x):
    pasted = paste_box(x, partner_x, params["box"], config.data_format)
    blended = blend(x, partner_x, params["lam"])
    return jnp.where(_layout.expand_per_sample(params["use_cutmix"], x.ndim), pasted, blended)

  return mixing.MixOp(
      draw=_sampler(config, height, width), num_words=_num_words(config), apply=apply,
      weights=lambda p: (p["label_lam"], 1.0 - jnp.asarray(p["label_lam"], jnp.float32)),
      exact_on_self=True)  # a paste or a guarded `blend`


def _settings_valid(config: MixConfig) -> jax.Array:
  in_unit = lambda v: (jnp.asarray(v) >= 0) & (jnp.asarray(v) <= 1)
  alpha_ok = lambda v: (jnp.asarray(v) >= 0) & jnp.isfinite(jnp.asarray(v))
  return (alpha_ok(config.mixup_alpha) & alpha_ok(config.cutmix_alpha) & in_unit(config.prob)
          & in_unit(config.switch_prob) & in_unit(config.label_smoothing))

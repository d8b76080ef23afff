"""The train step's data transformation: mix (jaxmix) → normalize → Cutout, as one pure function.

`make_augment_fn(config, info)` reads the ConfigDict ONCE, in Python, and returns

    augment(key, images_uint8, labels) -> (inputs_float32_normalized, targets)

which the jitted train step calls; the step itself never sees the config. The order is fixed:

1. mix on pixel values: CutMix copies uint8 pixels exactly; Mixup blends in float32 0..255
   (a blend must not be rounded back to uint8);
2. normalize with the dataset's mean/std (`normalize`, the only place statistics are applied;
   evaluation calls it too);
3. Cutout on the normalized tensor with fill 0, i.e. the dataset mean, as the reference code
   erases normalized tensors (DeVries & Taylor 2017, "Improved Regularization of Convolutional
   Neural Networks with Cutout").

Mixing before normalizing is the same as mixing after it, because normalization is per-pixel
affine and every mix is a convex combination of pixels; mixing first keeps CutMix exact on uint8.
"""

from collections.abc import Callable
import inspect

import jax
import jax.numpy as jnp
import jaxmix
import ml_collections

# jaxmix ops beyond the timm policy, by their `jaxmix.OPS` names; options in config.mix_kwargs.
VARIANTS = ("resizemix", "saliencymix", "fmix", "gridmix", "smoothmix")
MIX_CHOICES = ("none", "cutout", "mixup", "cutmix", "mix") + VARIANTS
# Options of a variant that the trainer sets itself (from the dataset and the other fields).
_TRAINER_OPTIONS = ("num_classes", "mode", "partner", "label_smoothing", "num_shards", "prob")

AugmentFn = Callable[..., tuple[jax.Array, jax.Array]]


def normalize(images: jax.Array, mean, std) -> jax.Array:
  """uint8-range images → (x - mean) / std in float32; mean/std per channel in 0..255 units."""
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)
  return (images.astype(jnp.float32) - mean) / std


def mix_prob(config: ml_collections.ConfigDict, total_steps: int | None, steps_per_epoch: int):
  """config.mix_prob, or a schedule that is 0 for the last config.mix_off_last_epochs epochs."""
  off_steps = int(round(config.mix_off_last_epochs * steps_per_epoch))
  if off_steps <= 0:
    return config.mix_prob
  if total_steps is None:
    raise ValueError("config.mix_off_last_epochs needs the run's total steps")
  return jaxmix.schedules.off_last(config.mix_prob, total_steps, off_steps)


def make_mix_config(config: ml_collections.ConfigDict, num_classes: int, num_shards: int,
                    prob=None) -> jaxmix.MixConfig | None:
  """The jaxmix.MixConfig for config.mix (None for "none", "cutout" and the variants)."""
  if config.mix not in MIX_CHOICES:
    raise ValueError(f"config.mix must be one of {list(MIX_CHOICES)}, got {config.mix!r}")
  if config.mix in ("none", "cutout") + VARIANTS:
    return None
  minmax = tuple(config.cutmix_minmax) or None
  if minmax is not None and config.mix != "cutmix":
    raise ValueError(f"config.cutmix_minmax applies to mix='cutmix', got mix={config.mix!r}")
  return jaxmix.MixConfig(
      mixup_alpha=config.mixup_alpha if config.mix in ("mixup", "mix") else 0.0,
      cutmix_alpha=config.cutmix_alpha if config.mix in ("cutmix", "mix") else 0.0,
      cutmix_minmax=minmax,
      prob=config.mix_prob if prob is None else prob,
      switch_prob=config.switch_prob if config.mix == "mix" else 0.5,
      mode=config.mix_mode, partner=config.mix_partner,
      correct_lam=config.correct_lam, label_smoothing=config.label_smoothing,
      num_classes=num_classes, num_shards=num_shards)


def variant_options(config: ml_collections.ConfigDict) -> dict:
  """config.mix_kwargs for a variant op, checked against its signature (one-line errors)."""
  options = dict(config.mix_kwargs)
  accepted = inspect.signature(jaxmix.OPS[config.mix]).parameters
  for name in options:
    if name in _TRAINER_OPTIONS:
      raise ValueError(f"config.mix_kwargs.{name} is set by the trainer (from config.mix_mode, "
                       f"mix_partner, mix_prob, label_smoothing and the dataset); remove it")
    if name not in accepted:
      raise ValueError(f"config.mix_kwargs.{name} is not an option of jaxmix.OPS"
                       f"[{config.mix!r}]; options: "
                       f"{sorted(k for k in accepted if k not in _TRAINER_OPTIONS + ('key', 'images', 'labels'))}")
  return options


def _variant_fn(config, num_classes: int, num_shards: int, prob):
  """`(key, images, labels, step) -> (images, rows)` of a jaxmix.OPS variant, mixed with
  probability `prob` (a number or a schedule of the step) per sample, or per batch in batch mode."""
  op, options, mode = jaxmix.OPS[config.mix], variant_options(config), str(config.mix_mode)
  if "alpha" in inspect.signature(op).parameters and "alpha" not in options:
    # The variants' α means CutMix's: λ ~ Beta(α, α) sets the pasted share.
    options["alpha"] = float(config.cutmix_alpha)
  common = {"num_classes": num_classes, "mode": mode, "partner": str(config.mix_partner),
            "label_smoothing": float(config.label_smoothing), "num_shards": num_shards}
  # A soft mask blends pixels: mix in float32 (like Mixup) so the blend is not rounded.
  soft = config.mix == "smoothmix" or float(options.get("max_soft", 0.0)) > 0

  def apply(key, images, labels, step):
    if soft:
      images = images.astype(jnp.float32)
    # The op's own gate: an unmixed sample keeps its image and its (smoothed) label row.
    p = prob(step) if callable(prob) else prob
    return op(key, images, labels, prob=p, **common, **options)
  return apply


def make_augment_fn(config: ml_collections.ConfigDict, info, *, num_shards: int = 1,
                    total_steps: int | None = None, steps_per_epoch: int = 1) -> AugmentFn:
  """The pure `(key, images_uint8, labels, step=None) -> (inputs, targets)` function of config.mix.

  Args:
    config: reads mix, the mix_* / *_alpha / cutmix_minmax / cutout_size / label_smoothing
      fields, and mix_kwargs (the options of a variant op, e.g. alpha for fmix).
    info: the dataset's `DatasetInfo` (num_classes, mean, std).
    num_shards: partners are chosen within each of this many equal slices of the batch (one per
      device, so that mixing needs no communication).
    total_steps, steps_per_epoch: the run's length, for config.mix_off_last_epochs (mixing off
      for the last epochs; then `step` must be passed to the function).

  Returns:
    augment(key, images, labels, step=None): images uint8 [B, H, W, C], labels int [B] →
    (float32 [B, H, W, C] normalized inputs, float32 [B, num_classes] label rows summing to 1).
  """
  prob = mix_prob(config, total_steps, steps_per_epoch)
  mix_config = make_mix_config(config, info.num_classes, num_shards, prob=prob)
  variant = (_variant_fn(config, info.num_classes, num_shards, prob)
             if config.mix in VARIANTS else None)
  # Python values only: the closure holds no ConfigDict, so tracing never reads one.
  mix, smoothing, cutout_size = str(config.mix), float(config.label_smoothing), int(config.cutout_size)
  blend = mix in ("mixup", "mix")
  num_classes, mean, std = info.num_classes, tuple(info.mean), tuple(info.std)
  scheduled = callable(prob)

  def augment(key: jax.Array, images: jax.Array, labels: jax.Array, step=None):
    if scheduled and step is None:
      raise ValueError("config.mix_off_last_epochs is set: pass step= to the augment function")
    if mix_config is not None:
      if blend:
        images = images.astype(jnp.float32)
      images, targets = jaxmix.mix(key, images, labels, mix_config,
                                   **({"step": step} if scheduled else {}))
    elif variant is not None:
      images, targets = variant(key, images, labels, step)
    else:
      targets = jaxmix.one_hot(labels, num_classes, smoothing=smoothing)
    inputs = normalize(images, mean, std)
    if mix == "cutout":
      inputs = jaxmix.cutout(key, inputs, size=cutout_size, fill=0.0, mode="elem")
    return inputs, targets

  return augment

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

import jax
import jax.numpy as jnp
import jaxmix
import ml_collections

MIX_CHOICES = ("none", "cutout", "mixup", "cutmix", "mix")

AugmentFn = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def normalize(images: jax.Array, mean, std) -> jax.Array:
  """uint8-range images → (x - mean) / std in float32; mean/std per channel in 0..255 units."""
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)
  return (images.astype(jnp.float32) - mean) / std


def make_mix_config(config: ml_collections.ConfigDict, num_classes: int,
                    num_shards: int) -> jaxmix.MixConfig | None:
  """The jaxmix.MixConfig for config.mix (None for "none" and "cutout")."""
  if config.mix not in MIX_CHOICES:
    raise ValueError(f"config.mix must be one of {list(MIX_CHOICES)}, got {config.mix!r}")
  if config.mix in ("none", "cutout"):
    return None
  return jaxmix.MixConfig(
      mixup_alpha=config.mixup_alpha if config.mix in ("mixup", "mix") else 0.0,
      cutmix_alpha=config.cutmix_alpha if config.mix in ("cutmix", "mix") else 0.0,
      prob=config.mix_prob,
      switch_prob=config.switch_prob if config.mix == "mix" else 0.5,
      mode=config.mix_mode, partner=config.mix_partner,
      correct_lam=config.correct_lam, label_smoothing=config.label_smoothing,
      num_classes=num_classes, num_shards=num_shards)


def make_augment_fn(config: ml_collections.ConfigDict, info, *, num_shards: int = 1) -> AugmentFn:
  """The pure `(key, images_uint8, labels) -> (inputs, targets)` function of config.mix.

  Args:
    config: reads mix, the mix_* / *_alpha / cutout_size / label_smoothing fields.
    info: the dataset's `DatasetInfo` (num_classes, mean, std).
    num_shards: partners are chosen within each of this many equal slices of the batch (one per
      device, so that mixing needs no communication).

  Returns:
    augment(key, images, labels): images uint8 [B, H, W, C], labels int [B] →
    (float32 [B, H, W, C] normalized inputs, float32 [B, num_classes] label rows summing to 1).
  """
  mix_config = make_mix_config(config, info.num_classes, num_shards)
  # Python values only: the closure holds no ConfigDict, so tracing never reads one.
  mix, smoothing, cutout_size = str(config.mix), float(config.label_smoothing), int(config.cutout_size)
  blend = mix in ("mixup", "mix")
  num_classes, mean, std = info.num_classes, tuple(info.mean), tuple(info.std)

  def augment(key: jax.Array, images: jax.Array, labels: jax.Array):
    if mix_config is not None:
      if blend:
        images = images.astype(jnp.float32)
      images, targets = jaxmix.mix(key, images, labels, mix_config)
    else:
      targets = jaxmix.one_hot(labels, num_classes, smoothing=smoothing)
    inputs = normalize(images, mean, std)
    if mix == "cutout":
      inputs = jaxmix.cutout(key, inputs, size=cutout_size, fill=0.0, mode="elem")
    return inputs, targets

  return augment

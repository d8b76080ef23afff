"""Every op by name, with targets: `OPS`, `mix_targets` and the dict batch `mix_dict`.

An experiment config names an op ("cutmix", "mixup", "cutout", "resizemix",
"saliencymix", "fmix", "gridmix", "smoothmix") and its options; `OPS[name]` is the public
op itself (`OPS["cutmix"] is jaxmix.cutmix`), a function

  fn(key, images, labels, *, masks=None, boxes=None, extras=(), **options)
    -> (images, labels[, masks][, boxes][, *extras])

that mixes per-pixel targets, boxes and extra image-like arrays exactly as the
images. `mix_dict` does the same for a dict batch {"image", "label", "mask",
"boxes"} with the keys nameable.
"""

from typing import Optional

import jax

from jaxmix._src import _checks
from jaxmix._src import cutmix as cutmix_lib
from jaxmix._src import cutout as cutout_lib
from jaxmix._src import fmix as fmix_lib
from jaxmix._src import gridmix as gridmix_lib
from jaxmix._src import mixup as mixup_lib
from jaxmix._src import resizemix as resizemix_lib
from jaxmix._src import saliencymix as saliencymix_lib
from jaxmix._src import smoothmix as smoothmix_lib

OPS = {
    "cutmix": cutmix_lib.cutmix,
    "mixup": mixup_lib.mixup,
    "cutout": cutout_lib.cutout,
    "resizemix": resizemix_lib.resizemix,
    "saliencymix": saliencymix_lib.saliencymix,
    "fmix": fmix_lib.fmix,
    "gridmix": gridmix_lib.gridmix,
    "smoothmix": smoothmix_lib.smoothmix,
}


def mix_targets(key: jax.Array, images: jax.Array, labels, *, op: str, **options):
  """`OPS[op](key, images, labels, **options)`, with a one-line error for an unknown name."""
  _checks.check_choice("op", op, tuple(OPS))
  return OPS[op](key, images, labels, **options)


def mix_dict(key: jax.Array, batch_dict: dict, *, op: str, image_key="image",
             label_key: Optional[str] = "label", mask_key: Optional[str] = "mask",
             boxes_key: Optional[str] = "boxes", **options) -> dict:
  """Mixes a dict batch with op `op`; returns a dict with the same keys.

  Args:
    key: PRNG key.
    batch_dict: e.g. {"image": [B, H, W, C], "label": [B], "mask": [B, H, W],
      "boxes": {"boxes": [B, N, 4], "valid": [B, N], "classes": [B, N]}, ...}.
    op: a name in `OPS`.
    image_key: the key of the images, or a tuple of keys: the first is the
      images, the rest are mixed like them (other views).
    label_key, mask_key, boxes_key: keys of labels, dense targets and
      detections; a key that is None or absent from the batch is skipped.
    **options: the op's options (alpha, mode, partner, num_classes, ...).

  Returns:
    A new dict: mixed entries under their keys (labels become float rows;
    boxes get 2N slots), every other entry passed through unchanged.
  """
  if not isinstance(batch_dict, dict):
    raise TypeError(f"batch must be a dict, got {type(batch_dict).__name__}")
  image_keys = (image_key,) if isinstance(image_key, str) else tuple(image_key)
  for name in image_keys + tuple(k for k in (label_key,) if k is not None):
    if name not in batch_dict:
      raise ValueError(f"batch has no key {name!r}; it has {sorted(batch_dict)}")
  get = lambda k: batch_dict.get(k) if k is not None else None
  masks, boxes = get(mask_key), get(boxes_key)
  out = mix_targets(key, batch_dict[image_keys[0]], get(label_key), op=op, masks=masks,
                    boxes=boxes, extras=tuple(batch_dict[k] for k in image_keys[1:]),
                    **options)
  result = dict(batch_dict)
  result[image_keys[0]] = out[0]
  if label_key is not None:
    result[label_key] = out[1]
  rest = list(out[2:])
  if masks is not None:
    result[mask_key] = rest.pop(0)
  if boxes is not None:
    result[boxes_key] = rest.pop(0)
  for k, x in zip(image_keys[1:], rest):
    result[k] = x
  return result

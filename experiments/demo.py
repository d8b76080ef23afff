"""Writes a PNG grid of Cutout, CutMix and Mixup on real photos and prints each λ and label row.

The photos are scikit-image's bundled samples (astronaut, cat, coffee, rocket),
so this runs offline. Usage: python -m experiments.demo [--out runs/demo/jaxmix_demo.png]
"""

import argparse
import functools
import os

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import jaxmix  # noqa: E402

CLASS_NAMES = ("astronaut", "cat", "coffee", "rocket")


def load_photos(size: int = 224) -> np.ndarray:
  """The four sample photos, centre-cropped to squares and resized: uint8 [4, size, size, 3]."""
  from skimage import data  # scikit-image ships these files; no download.
  photos = []
  for name in ("astronaut", "chelsea", "coffee", "rocket"):
    image = getattr(data, name)()
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(image[top:top + side, left:left + side])
    photos.append(np.asarray(crop.resize((size, size), Image.BICUBIC)))
  return np.stack(photos)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="runs/demo/jaxmix_demo.png")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  images = jnp.asarray(load_photos())
  labels = jnp.arange(len(CLASS_NAMES))
  num_classes = len(CLASS_NAMES)
  key_cutout, key_cutmix, key_mixup = jax.random.split(jax.random.key(args.seed), 3)
  cutout = jax.jit(functools.partial(jaxmix.cutout, size=112, fill=127))(key_cutout, images)
  cutmix, cutmix_rows = jax.jit(functools.partial(
      jaxmix.cutmix, num_classes=num_classes, mode="elem", partner="flip"))(key_cutmix, images, labels)
  mixup, mixup_rows = jax.jit(functools.partial(
      jaxmix.mixup, num_classes=num_classes, mode="elem", partner="flip"))(key_mixup, images, labels)

  rows = [("original", images, jaxmix.one_hot(labels, num_classes)),
          ("Cutout (removes)", cutout, jaxmix.one_hot(labels, num_classes)),
          ("CutMix (replaces)", cutmix, cutmix_rows),
          ("Mixup (blends)", mixup, mixup_rows)]
  fig, axes = plt.subplots(len(rows), len(CLASS_NAMES), figsize=(10, 10.8))
  for r, (title, batch, label_rows) in enumerate(rows):
    print(f"{title}:")
    for i in range(len(CLASS_NAMES)):
      row = np.asarray(label_rows[i])
      lam = float(row[i])
      text = " + ".join(f"{row[j]:.2f} {CLASS_NAMES[j]}" for j in np.nonzero(row > 1e-6)[0])
      print(f"  sample {i} ({CLASS_NAMES[i]}): λ = {lam:.4f}, label row = "
            f"[{', '.join(f'{v:.4f}' for v in row)}]")
      axes[r, i].imshow(np.asarray(batch[i]))
      axes[r, i].set_title(text, fontsize=8)
      axes[r, i].axis("off")
    axes[r, 0].text(-20, 112, title, rotation=90, va="center", ha="right", fontsize=11)
  fig.suptitle("jaxmix: Cutout removes, CutMix replaces, Mixup blends (per-sample, partner = flip)")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  fig.savefig(args.out, dpi=80)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()

"""Writes the README's gallery: every jaxmix op on real photos, with masks and boxes.

Rows: the originals, then Cutout, CutMix, Mixup, ResizeMix, SaliencyMix, FMix, GridMix and
SmoothMix
(per sample, partner = flip, one key). Columns: the four photos with their
detection boxes (class and box weight), then the dense targets (segmentation
maps) of the first two, mixed by the same call. The photos are scikit-image's
bundled samples (astronaut, cat, coffee, rocket), so this runs offline; the
boxes and maps are hand-drawn rectangles around their objects.

Usage: python -m experiments.demo --out docs/demo.png
"""

import argparse
import os

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import jaxmix  # noqa: E402

CLASS_NAMES = ("astronaut", "cat", "coffee", "rocket")
SIZE = 224
# Hand-drawn boxes (x1, y1, x2, y2) on the 224 × 224 crops; class = the photo's.
BOXES = (
    [(10, 5, 160, 224), (150, 0, 200, 115), (145, 145, 224, 224)],
    [(40, 60, 105, 115), (175, 75, 224, 125), (120, 150, 185, 200)],
    [(85, 10, 215, 170), (160, 130, 215, 190), (0, 20, 224, 224)],
    [(125, 60, 160, 220), (55, 60, 100, 210), (160, 60, 185, 210)],
)
NUM_CLASSES = len(CLASS_NAMES) + 1  # 0 = background in the dense maps
PALETTE = np.array([[0.15, 0.15, 0.15], [0.95, 0.45, 0.1], [0.2, 0.7, 0.3],
                    [0.55, 0.3, 0.8], [0.2, 0.55, 0.95]])
IGNORE = 255
OPS = (
    ("Cutout (removes)", "cutout", {"size": 112, "fill": 127}),
    ("CutMix (replaces)", "cutmix", {}),
    ("Mixup (blends)", "mixup", {}),
    ("ResizeMix (whole partner)", "resizemix", {}),
    ("SaliencyMix (salient box)", "saliencymix", {}),
    ("FMix (Fourier mask)", "fmix", {}),
    ("GridMix (grid of holes)", "gridmix", {}),
    ("SmoothMix (soft blob)", "smoothmix", {}),
)


def load_photos(size: int = SIZE) -> np.ndarray:
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


def targets() -> tuple[np.ndarray, dict]:
  """Dense maps (class i + 1 inside photo i's boxes, 0 elsewhere) and the detections dict."""
  maps = np.zeros((len(BOXES), SIZE, SIZE), np.int32)
  for i, boxes in enumerate(BOXES):
    for x1, y1, x2, y2 in boxes:
      maps[i, y1:y2, x1:x2] = i + 1
  coords = np.asarray(BOXES, np.float32)
  classes = np.repeat(np.arange(len(BOXES))[:, None], coords.shape[1], axis=1)
  return maps, {"boxes": jnp.asarray(coords), "classes": jnp.asarray(classes, jnp.int32)}


def colour(mask: np.ndarray) -> np.ndarray:
  """A map (ids, IGNORE = white) or soft rows [H, W, K] → RGB in [0, 1]."""
  mask = np.asarray(mask)
  if mask.ndim == 3:
    return np.clip(mask @ PALETTE, 0, 1)
  rgb = PALETTE[np.clip(mask, 0, NUM_CLASSES - 1)]
  rgb[mask == IGNORE] = 1.0
  return rgb


def run(seed: int = 0):
  """Runs every op once: [(title, images, label rows, masks, boxes)]."""
  images = jnp.asarray(load_photos())
  labels = jnp.arange(len(CLASS_NAMES))
  maps, dets = targets()
  rows = [("original", images, jaxmix.one_hot(labels, len(CLASS_NAMES)), maps,
           dict(dets, valid=jnp.ones(dets["classes"].shape, bool),
                weights=jnp.ones(dets["classes"].shape)))]
  keys = jax.random.split(jax.random.key(seed), len(OPS))
  for (title, name, options), key in zip(OPS, keys):
    kw = dict(options, masks=jnp.asarray(maps), boxes=dets, ignore_value=IGNORE)
    if name == "cutout":
      out, _, mixed_maps, boxes = jaxmix.OPS[name](key, images, labels, **kw)
      label_rows = jaxmix.one_hot(labels, len(CLASS_NAMES))
    else:
      kw["num_classes"] = len(CLASS_NAMES)
      if name in ("mixup", "smoothmix"):  # blends: integer maps become soft rows
        kw["masks"] = jaxmix.one_hot_map(jnp.asarray(maps), NUM_CLASSES)
      out, label_rows, mixed_maps, boxes = jaxmix.OPS[name](key, images, labels, mode="elem",
                                                            partner="flip", **kw)
    rows.append((title, out, label_rows, mixed_maps, boxes))
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="docs/demo.png")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  rows = run(args.seed)
  n_img, n_mask = len(CLASS_NAMES), 2
  fig, axes = plt.subplots(len(rows), n_img + n_mask, figsize=(2.0 * (n_img + n_mask),
                                                               2.1 * len(rows)))
  for r, (title, images, label_rows, maps, boxes) in enumerate(rows):
    print(f"{title}:")
    for i in range(n_img):
      row = np.asarray(label_rows[i])
      text = " + ".join(f"{row[j]:.2f} {CLASS_NAMES[j]}" for j in np.nonzero(row > 1e-6)[0])
      print(f"  sample {i} ({CLASS_NAMES[i]}): λ = {row[i]:.4f}, label row = "
            f"[{', '.join(f'{v:.4f}' for v in row)}]")
      ax = axes[r, i]
      ax.imshow(np.asarray(images[i]))
      for b, ok, c, w in zip(*(np.asarray(boxes[k][i]) for k in
                               ("boxes", "valid", "classes", "weights"))):
        if ok:
          ax.add_patch(patches.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False,
                                         lw=1.5, ec=PALETTE[c + 1], alpha=float(max(w, 0.35))))
      ax.set_title(text, fontsize=6.5)
      ax.axis("off")
    for m in range(n_mask):
      ax = axes[r, n_img + m]
      ax.imshow(colour(maps[m]))
      ax.set_title(f"mask of {CLASS_NAMES[m]}", fontsize=6.5)
      ax.axis("off")
    axes[r, 0].text(-20, SIZE / 2, title, rotation=90, va="center", ha="right", fontsize=9)
  fig.suptitle("jaxmix: every op with its dense targets and boxes (per sample, partner = flip)",
               fontsize=11)
  fig.tight_layout(rect=(0, 0, 1, 0.985))
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  fig.savefig(args.out, dpi=80)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()

r"""How often does a pasted patch hide the image's object, or carry none of the partner's?

  python -m experiments.patch_stats            # writes experiments/results/patch_stats/*.json
  python -m experiments.patch_stats --image-size 64   # the 64×64 images of the claim48 plan
                                                      # (→ experiments/results/patch_stats_64)

Issue 8, item 8, measured from the embedded shapes dataset's object masks, no training: each op
mixes the real training images (so SaliencyMix sees real saliency) and, through jaxmix's dense
targets, an integer map that marks the object of the first half of the batch 1 and of the
second half 2. With flip partners (i ↔ B−1−i) the two halves pair up, so after mixing the map
says exactly which object pixels of the image and of its partner are visible. Per mixed sample:
- `own_visible`: the fraction of the image's object still visible (0: the patch hid it);
- `partner_pasted`: the fraction of the partner's object that was pasted in (0: the patch
  carries none of it, although the label gives the partner weight 1 − λ);
- `content_weight`: the partner's share of the visible object pixels, against the label weight
  the op gives the partner (by area, or λ): their absolute difference is the label/content gap.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxmix
from experiments import study
from experiments.data import shapes

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "patch_stats"
OPS = ("cutmix", "resizemix", "saliencymix", "fmix", "cutout")
OPTIONS = {"cutmix": {"alpha": 1.0}, "resizemix": {}, "saliencymix": {"alpha": 1.0},
           "fmix": {"alpha": 1.0}, "cutout": {"size": 16}}


def options(op: str, image_size: int = shapes.IMAGE_SIZE) -> dict:
  """The op's options; Cutout's square keeps its side at half the image's (16 on 32×32)."""
  return {"size": image_size // 2} if op == "cutout" else dict(OPTIONS[op])


def object_maps(object_masks: np.ndarray) -> np.ndarray:
  """[B, H, W] int32: 1 on objects of the first half of the batch, 2 on the second half's."""
  b = len(object_masks)
  second = (np.arange(b) >= b // 2).astype(np.int32)
  return (object_masks > 0).astype(np.int32) * (1 + second[:, None, None])


def sample_stats(maps: np.ndarray, mixed_maps: np.ndarray, partner_weight: np.ndarray) -> dict:
  """Per-sample fractions from the maps before and after mixing (flip partners)."""
  b = len(maps)
  own_code = np.where(np.arange(b) < b // 2, 1, 2)
  partner_code = 3 - own_code
  own_px = (maps > 0).sum((1, 2)).astype(np.float64)
  partner_px = own_px[::-1]
  visible = (mixed_maps == own_code[:, None, None]).sum((1, 2))
  pasted = (mixed_maps == partner_code[:, None, None]).sum((1, 2))
  total = visible + pasted
  with np.errstate(invalid="ignore", divide="ignore"):
    content = np.where(total > 0, pasted / total, np.nan)
  return {"own_visible": visible / own_px, "partner_pasted": pasted / partner_px,
          "content_weight": content, "label_weight": partner_weight}


def measure(op: str, num_images: int = 10_000, batch_size: int = 1000, seed: int = 0,
            image_size: int = shapes.IMAGE_SIZE) -> dict:
  """Statistics of `op` (elem mode, flip partners) over `num_images` shapes training images
  of `image_size`² pixels."""
  data = shapes.generate(num_images, split="train", image_size=image_size)
  pairing = {} if op == "cutout" else {"partner": "flip", "num_classes": batch_size}
  fn = jax.jit(lambda k, x, m: jaxmix.mix_targets(
      k, x, jnp.arange(batch_size), op=op, masks=m, mode="elem", **pairing,
      **options(op, image_size)))
  parts = []
  for i, start in enumerate(range(0, num_images - batch_size + 1, batch_size)):
    maps = object_maps(data["object_mask"][start:start + batch_size])
    out = fn(jax.random.fold_in(jax.random.key(seed), i),
             jnp.asarray(data["image"][start:start + batch_size]), jnp.asarray(maps))
    mixed_maps = np.asarray(out[2])
    if op == "cutout":   # No partner: the label keeps weight 1.
      weight = np.zeros(batch_size)
    else:
      rows = np.asarray(out[1])
      weight = rows[np.arange(batch_size), batch_size - 1 - np.arange(batch_size)]
    parts.append(sample_stats(maps, mixed_maps, weight))
  s = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  mixed = s["label_weight"] > 0 if op != "cutout" else np.ones(len(s["label_weight"]), bool)
  gap = np.abs(s["content_weight"] - s["label_weight"])[mixed]
  out = {"op": op, "options": options(op, image_size), "images": int(len(mixed)),
         "image_size": image_size,
         "mixed": float(mixed.mean()),
         "own_hidden": float((s["own_visible"][mixed] == 0).mean()),
         "own_mostly_hidden": float((s["own_visible"][mixed] < 0.5).mean()),
         "own_visible_mean": float(s["own_visible"][mixed].mean())}
  if op != "cutout":
    out.update({
        "partner_absent": float((s["partner_pasted"][mixed] == 0).mean()),
        "partner_pasted_mean": float(s["partner_pasted"][mixed].mean()),
        "label_weight_mean": float(s["label_weight"][mixed].mean()),
        "label_content_gap_mean": float(np.nanmean(gap)),
        "no_object_visible": float(np.isnan(s["content_weight"][mixed]).mean()),
    })
  return out


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m experiments.patch_stats",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--ops", default=",".join(OPS), help=f"comma-separated, from {OPS}")
  parser.add_argument("--images", type=int, default=10_000)
  parser.add_argument("--image-size", type=int, default=shapes.IMAGE_SIZE,
                      help="height and width of the generated shapes images")
  parser.add_argument("--out", type=pathlib.Path, default=None,
                      help="default experiments/results/patch_stats (_<size> if not 32)")
  args = parser.parse_args(argv)
  size = args.image_size
  args.out = args.out or (RESULTS if size == shapes.IMAGE_SIZE
                          else RESULTS.with_name(f"patch_stats_{size}"))
  ops = [o for o in args.ops.split(",") if o]
  unknown = [o for o in ops if o not in OPS]
  if unknown or args.images < 1000 or size < 8:
    print(f"error: unknown op(s) {unknown}; choose from {OPS}" if unknown
          else f"error: --images must be >= 1000, got {args.images}" if args.images < 1000
          else f"error: --image-size must be >= 8, got {size}", file=sys.stderr)
    return 2
  args.out.mkdir(parents=True, exist_ok=True)
  for op in ops:
    result = measure(op, args.images, image_size=size)
    result["command"] = (f"python -m experiments.patch_stats --ops {op} --images {args.images}"
                         + (f" --image-size {size}" if size != shapes.IMAGE_SIZE else ""))
    result["device"] = jax.devices()[0].device_kind
    result.update(study.cpu_info())
    result["jax_version"] = jax.__version__
    result["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    (args.out / f"{op}.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result))
  return 0


if __name__ == "__main__":
  sys.exit(main())

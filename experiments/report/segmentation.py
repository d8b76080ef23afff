"""The report's segmentation section: mIoU per mixing method, paired against no mixing.

`rows` are the study's result JSONs (experiments/results/segmentation/*.json), each with tags
{"method", "seed"} and the summary of the segmentation trainer (eval_miou,
eval_pixel_accuracy, eval_object_iou).
"""

from __future__ import annotations

from collections.abc import Sequence
import pathlib

from experiments.report import figures
from experiments.report import stats
from experiments.report.format import diff_vs, fmt_pm, link, provenance, verdict
from experiments.report.results import by_tag, order

METHOD_ORDER = ("none", "cutmix_images_only", "cutmix_consistent", "mixup_images_only",
                "mixup_consistent")
BASELINE = "none"


def _classes(config: dict) -> str:
  if config.get("targets", "shape") == "object":
    return "2 classes per pixel (object / background)"
  return ("11 classes per pixel (background + 10 shapes); object IoU merges the shape classes "
          "(where, not what)")


def _miou(r: dict) -> float:
  return r["summary"]["eval_miou"]


def _verdict(groups, method: str, reference: str = BASELINE) -> str:
  return "- " + verdict(stats.paired(groups, method, reference, _miou),
                        f"{method} vs {reference}", "lower", "higher", what="mIoU",
                        measure="mIoU")


def section_segmentation(name: str, rows: Sequence[dict], folder: pathlib.Path) -> list[str]:
  """Table method | seeds | mIoU % | pixel accuracy % | object IoU % | paired Δ mIoU vs none."""
  groups = by_tag(rows, "method")
  groups = {m: groups[m] for m in order(groups, METHOD_ORDER)}
  lines = [f"**{name}** — {provenance(rows)}", "",
           f"U-Net on the shapes test set, {_classes(rows[0]['config'])}. CutMix α = 1 and "
           "Mixup α = 1 on each image with probability 0.5; *images only* leaves the target maps "
           "unmixed, *consistent* mixes them with the images (jaxmix dense targets).", "",
           "| method | seeds | mIoU % | pixel accuracy % | object IoU % "
           "| Δ mIoU vs none (95% CI) | train mIoU % |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for method, by_seed in groups.items():
    rs = list(by_seed.values())
    col = lambda key, rs=rs: fmt_pm([r["summary"][key] for r in rs])
    fit = [r.get("analysis", {}).get("train_fit", {}).get("miou") for r in rs]
    fit_cell = fmt_pm(fit) if all(f is not None for f in fit) else "–"
    lines.append(f"| {method} | {len(rs)} | {col('eval_miou')} | {col('eval_pixel_accuracy')} "
                 f"| {col('eval_object_iou')} | {diff_vs(groups, method, _miou, BASELINE)} "
                 f"| {fit_cell} |")
  lines += ["", "`*`: the 95% interval excludes 0 (paired by seed: same init, data order and "
            "mixing draws). Train mIoU: the final model on its own training images, "
            "un-augmented (where stored).", ""]
  if BASELINE in groups:
    lines += [_verdict(groups, m) for m in groups if m != BASELINE]
  if "cutmix_consistent" in groups and "cutmix_images_only" in groups:
    # Does mixing the masks with the images remove the harm of mixing the images alone?
    lines.append(_verdict(groups, "cutmix_consistent", "cutmix_images_only"))
  lines.append("")
  fig = folder / f"{name}_miou.png"
  if figures.miou_curves(groups, fig):
    lines += [f"![Test mIoU per epoch, {name}]({link(fig)})", ""]
  return lines

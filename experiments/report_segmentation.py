"""The report's segmentation section: mIoU per mixing method, paired against no mixing.

`section_segmentation(name, rows, figures)` has the signature of `experiments.report.SECTIONS`
entries: `rows` are the study's result JSONs (experiments/results/segmentation/*.json), each with
tags {"method", "seed"} and the summary of `segmentation.train_and_evaluate_segmentation`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
import pathlib

import numpy as np

from experiments import analysis

METHOD_ORDER = ("none", "cutmix_images_only", "cutmix_consistent", "mixup_images_only",
                "mixup_consistent")
BASELINE = "none"


def _groups(rows: Sequence[dict]) -> dict[str, dict[int, dict]]:
  """{method: {seed: result}}, methods in METHOD_ORDER (unknown ones last, by name)."""
  groups: dict[str, dict[int, dict]] = defaultdict(dict)
  for r in rows:
    groups[str(r["tags"]["method"])][int(r["seed"])] = r
  rank = {m: i for i, m in enumerate(METHOD_ORDER)}
  return {m: groups[m] for m in sorted(groups, key=lambda m: (rank.get(m, len(rank)), m))}


def _classes(config: dict) -> str:
  if config.get("targets", "shape") == "object":
    return "2 classes per pixel (object / background)"
  return ("11 classes per pixel (background + 10 shapes); object IoU merges the shape classes "
          "(where, not what)")


def _pm(values: Sequence[float]) -> str:
  mean, sd = analysis.mean_sd([100 * v for v in values])
  return f"{mean:.2f} ± {sd:.2f}"


def _paired(groups, method: str, key: str, reference: str = BASELINE) -> dict:
  seeds = sorted(set(groups[method]) & set(groups[reference]))
  return analysis.paired_difference([groups[method][s]["summary"][key] for s in seeds],
                                    [groups[reference][s]["summary"][key] for s in seeds])


def _fmt_diff(d: dict) -> str:
  if d["n"] < 2:
    return f"{100 * d['mean']:+.2f} (n={d['n']})"
  star = "" if d["lo"] <= 0 <= d["hi"] else " *"
  return f"{100 * d['mean']:+.2f} [{100 * d['lo']:+.2f}, {100 * d['hi']:+.2f}]{star}"


def _verdict(method: str, d: dict, reference: str = BASELINE) -> str:
  if d["n"] < 2:
    return f"{method} vs {reference}: only {d['n']} paired seed(s), no verdict yet."
  interval = f"paired Δ mIoU {100 * d['mean']:+.2f} points, 95% CI [{100 * d['lo']:+.2f}, " \
             f"{100 * d['hi']:+.2f}]"
  if d["lo"] <= 0 <= d["hi"]:
    return f"{method} vs {reference}: no difference in mIoU ({interval} includes 0)."
  return f"{method} vs {reference}: {'higher' if d['mean'] > 0 else 'lower'} mIoU ({interval})."


def curve_figure(groups, path: pathlib.Path) -> bool:
  """Test mIoU after each evaluated epoch, mean ± sd over seeds, one line per method."""
  import matplotlib  # Deferred: only the report draws.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.2))
  drawn = False
  for method, by_seed in groups.items():
    curves = [[(e["epoch"], e["eval_miou"]) for e in r.get("epochs", []) if "eval_miou" in e]
              for r in by_seed.values()]
    n = min((len(c) for c in curves), default=0)
    if n == 0:
      continue
    x = np.asarray([p[0] for p in curves[0][:n]])
    y = 100 * np.asarray([[p[1] for p in c[:n]] for c in curves])
    ax.errorbar(x, y.mean(0), yerr=y.std(0, ddof=1) if len(y) > 1 else None, marker="o",
                capsize=3, label=method)
    drawn = True
  if drawn:
    ax.set_xlabel("epoch")
    ax.set_ylabel("test mIoU %")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
  plt.close(fig)
  return drawn


def section_segmentation(name: str, rows: Sequence[dict], figures: pathlib.Path) -> list[str]:
  """Table method | seeds | mIoU % | pixel accuracy % | object IoU % | paired Δ mIoU vs none."""
  from experiments import report  # Deferred: report imports this module.
  groups = _groups(rows)
  lines = [f"**{name}** — {report.provenance(rows)}", "",
           f"U-Net on the shapes test set, {_classes(rows[0]['config'])}. CutMix α = 1 and "
           "Mixup α = 1 on each image with probability 0.5; *images only* leaves the target maps "
           "unmixed, *consistent* mixes them with the images (jaxmix dense targets).", "",
           "| method | seeds | mIoU % | pixel accuracy % | object IoU % "
           "| Δ mIoU vs none (95% CI) |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for method, by_seed in groups.items():
    rs = list(by_seed.values())
    col = lambda key: _pm([r["summary"][key] for r in rs])
    diff = ("–" if method == BASELINE or BASELINE not in groups
            else _fmt_diff(_paired(groups, method, "eval_miou")))
    lines.append(f"| {method} | {len(rs)} | {col('eval_miou')} | {col('eval_pixel_accuracy')} "
                 f"| {col('eval_object_iou')} | {diff} |")
  lines += ["", "`*`: the 95% interval excludes 0 (paired by seed: same init, data order and "
            "mixing draws).", ""]
  if BASELINE in groups:
    lines += ["- " + _verdict(m, _paired(groups, m, "eval_miou")) for m in groups
              if m != BASELINE]
  if "cutmix_consistent" in groups and "cutmix_images_only" in groups:
    # Does mixing the masks with the images remove the harm of mixing the images alone?
    lines.append("- " + _verdict("cutmix_consistent", _paired(
        groups, "cutmix_consistent", "eval_miou", "cutmix_images_only"), "cutmix_images_only"))
  lines.append("")
  fig = figures / f"{name}_miou.png"
  if curve_figure(groups, fig):
    link = report._link(fig)  # pylint: disable=protected-access
    lines += [f"![Test mIoU per epoch, {name}]({link})", ""]
  return lines

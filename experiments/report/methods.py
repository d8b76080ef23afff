"""The report's sections for method-comparison studies: accuracy and calibration, occlusion
robustness and CAM localization, each paired by seed with the baseline, with their figures.

Each section takes (study name, its rows, the figures folder) and returns Markdown lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import pathlib

from experiments.report import figures
from experiments.report import stats
from experiments.report.format import diff_vs, fmt_pm, link, provenance, verdict
from experiments.report.results import by_tag, error, occluded, order


def verdicts_vs_baseline(groups, metric: Callable[[dict], float], what: str,
                         better_if: str = "lower") -> list[str]:
  """A bullet per method: better, worse or no different from the baseline in `what`."""
  if "baseline" not in groups or len(groups) < 2:
    return []
  words = ("better", "worse") if better_if == "lower" else ("worse", "better")
  return ["- " + verdict(stats.paired(groups, m, "baseline", metric), f"{m} vs baseline", *words,
                         what=what) for m in order(groups) if m != "baseline"] + [""]


def section_methods(name: str, rows: Sequence[dict], folder: pathlib.Path) -> list[str]:
  """Accuracy + calibration table of a baseline / Cutout / Mixup / CutMix study."""
  groups = by_tag(rows, "method")
  lines = [f"**{name}** — {provenance(rows)}", "",
           "| method | seeds | top-1 error % | Δ error vs baseline (95% CI) | ECE % | NLL "
           "| ECE % after T | NLL after T | T | train accuracy % |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for m in order(groups):
    rs = list(groups[m].values())
    cal = lambda k, *fmt, rs=rs: fmt_pm([r["analysis"]["calibration"][k] for r in rs], *fmt)
    lines.append(
        f"| {m} | {len(rs)} | {fmt_pm([error(r) for r in rs])} | {diff_vs(groups, m, error)} "
        f"| {cal('ece')} | {cal('nll', 1, 3)} | {cal('ece_scaled')} | {cal('nll_scaled', 1, 3)} "
        f"| {cal('temperature', 1, 2)} "
        f"| {fmt_pm(train_acc) if (train_acc := _train_accuracy(rs)) else '–'} |")
  lines += ["", "Top-1 error on the whole test set, mean ± sd over seeds; Δ: paired by seed, "
            "95% t interval, `*` where it excludes 0. ECE (15 bins) and NLL on the odd-indexed "
            "half of the test set, before and after a temperature T fitted on the even half. "
            "Train accuracy: the last epoch's running accuracy on the training batches as "
            "trained (mixed ones for the mixing methods, against their argmax label), so only "
            "the baseline's compares with the test accuracy: far below 100% means the model "
            "underfits, where a regularizer is not expected to help.", ""]
  lines += verdicts_vs_baseline(groups, error, "top-1 error")
  fig = folder / f"{name}_reliability.png"
  figures.reliability(groups, fig)
  return lines + [f"![Reliability diagrams, {name}]({link(fig)})", ""]


def _train_accuracy(rows: Sequence[dict]) -> list[float]:
  """Last logged epoch's train accuracy of each run that logged one."""
  out = []
  for r in rows:
    logged = [e["train_accuracy"] for e in r.get("epochs", []) if "train_accuracy" in e]
    if logged:
      out.append(logged[-1])
  return out


def section_robustness(name: str, rows: Sequence[dict], folder: pathlib.Path) -> list[str]:
  """Accuracy under occlusion per method, with the paired difference to the baseline at 25%."""
  groups = by_tag(rows, "method")
  if not rows or not all("occlusion" in r["analysis"] for r in rows):
    return []
  lines = [f"Occlusion robustness, {name} (accuracy % on occluded test images; boxes identical "
           "for every run):", "",
           "| method | clean | 10% random, zero | 25% random, zero | 25% random, mean "
           "| 25% centred, mean | 50% random, zero | Δ vs baseline at 25% random, zero |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for m in order(groups):
    rs = list(groups[m].values())
    col = lambda kind, f, rs=rs: fmt_pm([occluded(r, kind, f) for r in rs], digits=1)
    lines.append(f"| {m} | {col('random_zero', 0.0)} | {col('random_zero', 0.1)} "
                 f"| {col('random_zero', 0.25)} | {col('random_mean', 0.25)} "
                 f"| {col('centre_mean', 0.25)} | {col('random_zero', 0.5)} "
                 f"| {diff_vs(groups, m, occluded, digits=1)} |")
  fig = folder / f"{name}_occlusion.png"
  figures.occlusion(groups, fig, f"{name}: accuracy vs occluded fraction (mean ± sd over seeds)")
  return lines + ["", f"![Occlusion robustness, {name}]({link(fig)})", ""]


def section_localization(name: str, rows: Sequence[dict], folder: pathlib.Path) -> list[str]:
  """GT-known and top-1 localization from class activation maps, paired with the baseline."""
  del folder
  groups = by_tag(rows, "method")
  if not all("localization" in r["analysis"] for r in rows):
    return []
  loc = lambda r, k="gt_known_loc": r["analysis"]["localization"][k]
  lines = [f"CAM localization, {name} (box of the largest region ≥ 20% of the class map, "
           "IoU ≥ 0.5 with the object box):", "",
           "| method | GT-known loc. % | top-1 loc. % | mean IoU | Δ GT-known loc. vs baseline |",
           "| --- | ---: | ---: | ---: | ---: |"]
  for m in order(groups):
    rs = list(groups[m].values())
    lines.append(
        f"| {m} | {fmt_pm([loc(r) for r in rs], digits=1)} "
        f"| {fmt_pm([loc(r, 'top1_loc') for r in rs], digits=1)} "
        f"| {fmt_pm([loc(r, 'mean_iou') for r in rs], 1, 3)} "
        f"| {diff_vs(groups, m, loc, digits=1)} |")
  lines.append("")
  return lines + verdicts_vs_baseline(groups, loc, "localization (GT-known)", "higher")


def section_methods_full(name: str, rows: Sequence[dict], folder: pathlib.Path) -> list[str]:
  """The three sections above, those whose analyses the runs stored."""
  return (section_methods(name, rows, folder) + section_robustness(name, rows, folder)
          + section_localization(name, rows, folder))

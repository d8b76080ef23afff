"""The report's sections for method-comparison studies: accuracy and calibration, occlusion
robustness and CAM localization, each paired by seed with the baseline, with their figures.

Each section takes (study name, its rows, the figures folder) and returns Markdown lines.
"""

from __future__ import annotations

from collections.abc import Sequence
import pathlib

import numpy as np

from experiments import analysis
# The shared table helpers (report imports this module only inside its SECTIONS wrappers).
from experiments.report import (  # pylint: disable=g-importing-member
    _link, _order, by_tag, fmt_diff, fmt_pm, paired_vs, provenance, verdict)


# ---------------------------------------------------------------------------------- figures


def reliability_figure(groups, path: pathlib.Path) -> None:
  import matplotlib  # Deferred: only the report draws.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  methods = _order(groups)
  fig, axes = plt.subplots(2, len(methods), figsize=(3 * len(methods), 6), squeeze=False)
  for col, method in enumerate(methods):
    for row, key in enumerate(("reliability", "reliability_scaled")):
      # Pool the seeds: counts add, per-bin means weighted by count.
      count = np.zeros(analysis.NUM_BINS)
      conf = np.zeros(analysis.NUM_BINS)
      acc = np.zeros(analysis.NUM_BINS)
      for r in groups[method].values():
        rel = r["analysis"]["calibration"][key]
        c = np.asarray(rel["count"])
        count += c
        conf += np.nan_to_num(np.asarray(rel["confidence"], float)) * c
        acc += np.nan_to_num(np.asarray(rel["accuracy"], float)) * c
      with np.errstate(invalid="ignore"):
        conf, acc = conf / count, acc / count
      edges = np.linspace(0, 1, analysis.NUM_BINS + 1)
      ax = axes[row, col]
      ax.bar(edges[:-1], np.nan_to_num(acc), width=1 / analysis.NUM_BINS, align="edge",
             edgecolor="k", alpha=0.7, label="accuracy")
      ax.plot([0, 1], [0, 1], "r--", lw=1)
      ax.set_title(f"{method}{' (T-scaled)' if row else ''}", fontsize=9)
      ax.set_xlim(0, 1)
      ax.set_ylim(0, 1)
      if col == 0:
        ax.set_ylabel("accuracy")
      if row == 1:
        ax.set_xlabel("confidence")
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


# ---------------------------------------------------------------------------------- sections


def section_methods(name: str, rows: Sequence[dict], figures: pathlib.Path) -> list[str]:
  """Accuracy + calibration table of a baseline / Cutout / Mixup / CutMix study."""
  groups = by_tag(rows, "method")
  methods = _order(groups)
  err = lambda r: 1.0 - r["summary"]["eval_accuracy"]
  lines = [f"**{name}** — {provenance(rows)}", "",
           "| method | seeds | top-1 error % | Δ error vs baseline (95% CI) | ECE % | NLL "
           "| ECE % after T | NLL after T | T | train accuracy % |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  cal = lambda r, k: r["analysis"]["calibration"][k]
  for m in methods:
    rs = list(groups[m].values())
    diff = ("–" if m == "baseline" or "baseline" not in groups
            else fmt_diff(paired_vs(groups, m, "baseline", err)))
    lines.append(
        f"| {m} | {len(rs)} | {fmt_pm([err(r) for r in rs])} | {diff} "
        f"| {fmt_pm([cal(r, 'ece') for r in rs])} | {fmt_pm([cal(r, 'nll') for r in rs], 1, 3)} "
        f"| {fmt_pm([cal(r, 'ece_scaled') for r in rs])} "
        f"| {fmt_pm([cal(r, 'nll_scaled') for r in rs], 1, 3)} "
        f"| {fmt_pm([cal(r, 'temperature') for r in rs], 1, 2)} "
        f"| {fmt_pm(train_acc) if (train_acc := _train_accuracy(rs)) else '–'} |")
  lines += ["", "Top-1 error on the whole test set, mean ± sd over seeds; Δ: paired by seed, "
            "95% t interval, `*` where it excludes 0. ECE (15 bins) and NLL on the odd-indexed "
            "half of the test set, before and after a temperature T fitted on the even half. "
            "Train accuracy: the last epoch's running accuracy on the training batches as "
            "trained (mixed ones for the mixing methods, against their argmax label), so only "
            "the baseline's compares with the test accuracy: far below 100% means the model "
            "underfits, where a regularizer is not expected to help.", ""]
  if "baseline" in groups:
    for m in methods:
      if m != "baseline":
        lines.append("- " + verdict(paired_vs(groups, m, "baseline", err), "lower",
                                    "top-1 error", f"{m} vs baseline"))
    lines.append("")
  fig = figures / f"{name}_reliability.png"
  reliability_figure(groups, fig)
  lines += [f"![Reliability diagrams, {name}]({_link(fig)})", ""]
  return lines


def _train_accuracy(rows: Sequence[dict]) -> list[float]:
  """Last logged epoch's train accuracy of each run that logged one."""
  out = []
  for r in rows:
    logged = [e["train_accuracy"] for e in r.get("epochs", []) if "train_accuracy" in e]
    if logged:
      out.append(logged[-1])
  return out


def occlusion_figure(groups, path: pathlib.Path, title: str) -> None:
  import matplotlib  # Deferred: only the report draws.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  kinds = ("random_zero", "random_mean", "centre_mean")
  fig, axes = plt.subplots(1, len(kinds), figsize=(4 * len(kinds), 3.2), sharey=True)
  for ax, kind in zip(axes, kinds):
    for method in _order(groups):
      curves = [r["analysis"]["occlusion"] for r in groups[method].values()]
      x = np.asarray(curves[0]["fractions"]) * 100
      y = np.asarray([c[kind] for c in curves]) * 100
      ax.errorbar(x, y.mean(0), yerr=y.std(0, ddof=1) if len(y) > 1 else None, marker="o",
                  capsize=3, label=method)
    ax.set_title(kind.replace("_", ", ") + " fill" if kind != "centre_mean" else
                 "centred box, mean fill", fontsize=9)
    ax.set_xlabel("occluded % of the image")
  axes[0].set_ylabel("top-1 accuracy %")
  axes[-1].legend(fontsize=8)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def section_robustness(name: str, rows: Sequence[dict], figures: pathlib.Path) -> list[str]:
  """Accuracy under occlusion per method, with the paired difference to the baseline at 25%."""
  groups = by_tag(rows, "method")
  if not rows or not all("occlusion" in r["analysis"] for r in rows):
    return []
  lines = [f"Occlusion robustness, {name} (accuracy % on occluded test images; boxes identical "
           "for every run):", "",
           "| method | clean | 10% random, zero | 25% random, zero | 25% random, mean "
           "| 25% centred, mean | 50% random, zero | Δ vs baseline at 25% random, zero |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  def at(r, kind, f):
    occ = r["analysis"]["occlusion"]
    return occ[kind][occ["fractions"].index(f)]
  for m in _order(groups):
    rs = list(groups[m].values())
    col = lambda kind, f: fmt_pm([at(r, kind, f) for r in rs], digits=1)
    diff = ("–" if m == "baseline" or "baseline" not in groups else
            fmt_diff(paired_vs(groups, m, "baseline", lambda r: at(r, "random_zero", 0.25)),
                     digits=1))
    lines.append(f"| {m} | {col('random_zero', 0.0)} | {col('random_zero', 0.1)} "
                 f"| {col('random_zero', 0.25)} | {col('random_mean', 0.25)} "
                 f"| {col('centre_mean', 0.25)} | {col('random_zero', 0.5)} | {diff} |")
  fig = figures / f"{name}_occlusion.png"
  occlusion_figure(groups, fig, f"{name}: accuracy vs occluded fraction (mean ± sd over seeds)")
  return lines + ["", f"![Occlusion robustness, {name}]({_link(fig)})", ""]


def section_localization(name: str, rows: Sequence[dict], figures: pathlib.Path) -> list[str]:
  del figures
  groups = by_tag(rows, "method")
  if not all("localization" in r["analysis"] for r in rows):
    return []
  loc = lambda r: r["analysis"]["localization"]["gt_known_loc"]
  lines = [f"CAM localization, {name} (box of the largest region ≥ 20% of the class map, "
           "IoU ≥ 0.5 with the object box):", "",
           "| method | GT-known loc. % | top-1 loc. % | mean IoU | Δ GT-known loc. vs baseline |",
           "| --- | ---: | ---: | ---: | ---: |"]
  for m in _order(groups):
    rs = list(groups[m].values())
    diff = ("–" if m == "baseline" or "baseline" not in groups
            else fmt_diff(paired_vs(groups, m, "baseline", loc), digits=1))
    lines.append(
        f"| {m} | {fmt_pm([loc(r) for r in rs], digits=1)} "
        f"| {fmt_pm([r['analysis']['localization']['top1_loc'] for r in rs], digits=1)} "
        f"| {fmt_pm([r['analysis']['localization']['mean_iou'] for r in rs], 1, 3)} | {diff} |")
  lines.append("")
  if "baseline" in groups:
    for m in _order(groups):
      if m != "baseline":
        lines.append("- " + verdict(paired_vs(groups, m, "baseline", loc), "higher",
                                    "localization (GT-known)", f"{m} vs baseline"))
    lines.append("")
  return lines


def section_methods_full(name, rows, figures):
  return (section_methods(name, rows, figures) + section_robustness(name, rows, figures)
          + section_localization(name, rows, figures))

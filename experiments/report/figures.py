"""The report's figures (PNG, 80 dpi), drawn from result rows without a display.

Each function draws one figure to `path`; those that can find nothing to draw return False
and write no file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import pathlib

import matplotlib

matplotlib.use("Agg")   # No display: the report runs headless (CI, remote machines).
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments.report import results  # pylint: disable=g-import-not-at-top,wrong-import-position

Groups = Mapping[str, Mapping[int, dict]]   # {method: {seed: result row}}


def _pooled(rows, key: str) -> tuple[np.ndarray, np.ndarray]:
  """Per-bin (confidence, accuracy) of the seeds' reliability bins pooled: counts add, per-bin
  means weighted by count."""
  bins = [r["analysis"]["calibration"][key] for r in rows]
  count = np.zeros(len(bins[0]["count"]))
  conf, acc = np.zeros_like(count), np.zeros_like(count)
  for rel in bins:
    c = np.asarray(rel["count"])
    count += c
    conf += np.nan_to_num(np.asarray(rel["confidence"], float)) * c
    acc += np.nan_to_num(np.asarray(rel["accuracy"], float)) * c
  with np.errstate(invalid="ignore"):
    return conf / count, acc / count


def reliability(groups: Groups, path: pathlib.Path) -> None:
  """Reliability diagrams, one column per method: before and after temperature scaling."""
  methods = results.order(groups)
  fig, axes = plt.subplots(2, len(methods), figsize=(3 * len(methods), 6), squeeze=False)
  for col, method in enumerate(methods):
    for row, key in enumerate(("reliability", "reliability_scaled")):
      _, acc = _pooled(groups[method].values(), key)
      edges = np.linspace(0, 1, len(acc) + 1)
      ax = axes[row, col]
      ax.bar(edges[:-1], np.nan_to_num(acc), width=1 / len(acc), align="edge",
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


def _mean_sd_line(ax, x, y: np.ndarray, **kwargs) -> None:
  """y [seeds, points]: the mean, with ± sd bars when there are 2 seeds or more."""
  ax.errorbar(x, y.mean(0), yerr=y.std(0, ddof=1) if len(y) > 1 else None, capsize=3, **kwargs)


def occlusion(groups: Groups, path: pathlib.Path, title: str) -> None:
  """Accuracy vs occluded fraction, one panel per occlusion kind, one line per method."""
  kinds = ("random_zero", "random_mean", "centre_mean")
  fig, axes = plt.subplots(1, len(kinds), figsize=(4 * len(kinds), 3.2), sharey=True)
  for ax, kind in zip(axes, kinds):
    for method in results.order(groups):
      curves = [r["analysis"]["occlusion"] for r in groups[method].values()]
      x = np.asarray(curves[0]["fractions"]) * 100
      _mean_sd_line(ax, x, np.asarray([c[kind] for c in curves]) * 100, marker="o",
                    label=method)
    ax.set_title(kind.replace("_", ", ") + " fill" if kind != "centre_mean" else
                 "centred box, mean fill", fontsize=9)
    ax.set_xlabel("occluded % of the image")
  axes[0].set_ylabel("top-1 accuracy %")
  axes[-1].legend(fontsize=8)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def efficiency(points: Mapping[str, Sequence[tuple[int, float, float]]],
               path: pathlib.Path) -> bool:
  """CutMix gain vs training-set size: {dataset: [(size, gain, 95% half-width)]}, points."""
  fig, ax = plt.subplots(figsize=(5, 3.2))
  drawn = False
  for dataset, marker in (("cifar10_jpeg", "o-"), ("fashion_mnist_idx", "s")):
    if points.get(dataset):
      x, y, e = map(np.asarray, zip(*points[dataset]))
      ax.errorbar(x, y, yerr=e, fmt=marker, capsize=3, label=dataset)
      drawn = True
  if drawn:
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training images")
    ax.set_ylabel("CutMix − baseline top-1 error\n(points; 95% CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
  plt.close(fig)
  return drawn


def miou_curves(groups: Groups, path: pathlib.Path) -> bool:
  """Test mIoU after each evaluated epoch, mean ± sd over seeds, one line per method."""
  fig, ax = plt.subplots(figsize=(5, 3.2))
  drawn = False
  for method, by_seed in groups.items():
    curves = [[(e["epoch"], e["eval_miou"]) for e in r.get("epochs", []) if "eval_miou" in e]
              for r in by_seed.values()]
    n = min((len(c) for c in curves), default=0)
    if n == 0:
      continue
    x = np.asarray([p[0] for p in curves[0][:n]])
    _mean_sd_line(ax, x, 100 * np.asarray([[p[1] for p in c[:n]] for c in curves]),
                  marker="o", label=method)
    drawn = True
  if drawn:
    ax.set_xlabel("epoch")
    ax.set_ylabel("test mIoU %")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
  plt.close(fig)
  return drawn

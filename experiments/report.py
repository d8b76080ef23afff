r"""Builds the README's "What the experiments show" from the committed study results.

  python -m experiments.report            # rewrite the README block and the figures
  python -m experiments.report --check    # exit 1 if the README block is out of date

Reads `experiments/results/<study>/*.json` (written by `python -m experiments.study`), writes
figures to `experiments/results/figures/` and replaces the text between the REPORT markers of
README.md. Every table states its command, device, dates, epochs and seeds. A difference whose
95% interval includes zero is reported as no difference.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Sequence
import json
import pathlib
import sys

import numpy as np

from experiments import analysis

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "experiments" / "results"
README = REPO_ROOT / "README.md"
BEGIN, END = "<!-- REPORT -->", "<!-- /REPORT -->"
METHOD_ORDER = ("baseline", "cutout", "mixup", "cutmix", "resizemix", "saliencymix", "fmix")


def _link(path: pathlib.Path) -> str:
  """A README link: relative to the repository when the file is inside it."""
  try:
    return str(path.resolve().relative_to(REPO_ROOT))
  except ValueError:
    return str(path)


def load_results(results_root: pathlib.Path = RESULTS) -> dict[str, list[dict]]:
  out = {}
  for folder in sorted(p for p in results_root.iterdir() if p.is_dir() and p.name != "figures"):
    if any(folder.glob("*.log")):   # An invocation's log completes its JSONs.
      from experiments import report_reference  # pylint: disable=g-import-not-at-top
      rows = report_reference.load(folder)
    else:
      rows = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    if rows:
      out[folder.name] = rows
  return out


def provenance(rows: Sequence[dict]) -> str:
  """One line: the command, device(s), dates, epochs and seeds behind a table."""
  study = rows[0]["study"]
  kinds = sorted({f"{r['device']['device_kind']} ×{r['device']['device_count']}"
                  + (f" ({r['device']['cpu_count']} cores)" if r["device"]["platform"] == "cpu"
                     else "") for r in rows})
  dates = sorted(r["finished_at"][:10] for r in rows)
  epochs = sorted({r["config"]["num_epochs"] for r in rows})
  seeds = sorted({r["seed"] for r in rows})
  commits = sorted({(r["git_commit"] or "?")[:8] for r in rows})
  # Results made outside the study runner (cifar_reference) carry their own command.
  command = rows[0].get("study_command", f"python -m experiments.study {study}")
  return (f"`{command}`; {', '.join(kinds)}; "
          f"{dates[0]}{' to ' + dates[-1] if dates[-1] != dates[0] else ''}; "
          f"{'/'.join(map(str, epochs))} epochs; seeds {', '.join(map(str, seeds))}; "
          f"{len(rows)} run{'s' if len(rows) != 1 else ''}; code {', '.join(commits)}")


def by_tag(rows: Sequence[dict], tag: str) -> dict[str, dict[int, dict]]:
  """{tag value: {seed: result}}."""
  groups: dict[str, dict[int, dict]] = defaultdict(dict)
  for r in rows:
    groups[str(r["tags"][tag])][r["seed"]] = r
  return groups


def _order(keys):
  rank = {m: i for i, m in enumerate(METHOD_ORDER)}
  return sorted(keys, key=lambda k: (rank.get(k, len(rank)), k))


def fmt_pm(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
  """mean ± sd over seeds (just the value for a single seed: no spread to show)."""
  mean, sd = analysis.mean_sd([v * scale for v in values])
  return f"{mean:.{digits}f}" if len(values) < 2 else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def fmt_diff(d: dict, scale: float = 100.0, digits: int = 2) -> str:
  if d["n"] < 2:
    return f"{d['mean'] * scale:+.{digits}f} (n=1)"
  verdict = "" if d["lo"] <= 0 <= d["hi"] else " *"
  return (f"{d['mean'] * scale:+.{digits}f} [{d['lo'] * scale:+.{digits}f}, "
          f"{d['hi'] * scale:+.{digits}f}]{verdict}")


def paired_vs(groups, method: str, baseline: str, metric: Callable[[dict], float]) -> dict:
  seeds = sorted(set(groups[method]) & set(groups[baseline]))
  return analysis.paired_difference([metric(groups[method][s]) for s in seeds],
                                    [metric(groups[baseline][s]) for s in seeds])


def verdict(d: dict, better_if: str, what: str, name: str, points: str = "points") -> str:
  """One sentence; an interval including zero is 'no difference'."""
  if d["n"] < 2:
    return f"{name}: only {d['n']} paired seed(s), no verdict yet."
  if d["lo"] <= 0 <= d["hi"]:
    return (f"{name}: no difference in {what} (paired Δ {d['mean'] * 100:+.2f} {points}, "
            f"95% CI [{d['lo'] * 100:+.2f}, {d['hi'] * 100:+.2f}] includes 0).")
  good = (d["mean"] < 0) == (better_if == "lower")
  return (f"{name}: {'better' if good else 'worse'} {what} (paired Δ {d['mean'] * 100:+.2f} "
          f"{points}, 95% CI [{d['lo'] * 100:+.2f}, {d['hi'] * 100:+.2f}]).")


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
  if not all("occlusion" in r["analysis"] for r in rows):
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


def section_patch_stats(name, rows, figures):
  """How often patches hide the object or carry none of the partner's (no training)."""
  del name, figures
  pct = lambda v: "–" if v is None else f"{100 * v:.1f}"
  order = {o: i for i, o in enumerate(("cutmix", "saliencymix", "resizemix", "fmix", "cutout"))}
  rows = sorted(rows, key=lambda r: order.get(r["op"], 99))
  lines = [f"**patch_stats** — `python -m experiments.patch_stats`; {rows[0]['device']}; "
           f"{rows[0]['finished_at'][:10]}; {rows[0]['images']} shapes training images per op, "
           "elem mode, α = 1, flip partners", "",
           "| op | own object hidden % | own object < half visible % | partner object absent "
           "from patch % | partner weight in label (mean) | partner share of visible object "
           "pixels, gap to label (mean abs.) |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for r in rows:
    lines.append(f"| {r['op']} | {pct(r['own_hidden'])} | {pct(r['own_mostly_hidden'])} "
                 f"| {pct(r.get('partner_absent'))} | {pct(r.get('label_weight_mean'))} "
                 f"| {pct(r.get('label_content_gap_mean'))} |")
  return lines + [""]


def _reference(name, rows, figures):
  from experiments.report_reference import section_reference  # It imports this module.
  return section_reference(name, rows, figures)


def _segmentation(name, rows, figures, results):
  del results
  from experiments.report_segmentation import section_segmentation  # It imports this module.
  return section_segmentation(name, rows, figures)


def _sweep(section_name: str):
  def section(name, rows, figures, results):
    from experiments import report_sweeps  # It imports this module.
    return getattr(report_sweeps, section_name)(name, rows, figures, results)
  return section


def _alone(section):
  """A section that needs no other study's results."""
  return lambda name, rows, figures, results: section(name, rows, figures)


# section(name, its rows, figures folder, every study's rows) -> Markdown lines.
SECTIONS: dict[str, Callable[[str, Sequence[dict], pathlib.Path, dict], list[str]]] = {
    "patch_stats": _alone(section_patch_stats),
    "cifar_methods": _alone(section_methods_full),
    "cifar_reference": _alone(lambda name, rows, figures: _reference(name, rows, figures)),
    "cifar_reference_long": _alone(lambda name, rows, figures: _reference(name, rows, figures)),
    "shapes_methods": _alone(section_methods_full),
    "data_efficiency": _sweep("section_data_efficiency"),
    "aggressive_sampling": _sweep("section_aggressive"),
    "segmentation": _segmentation,
}


# Result sets that are not studies of the runner, and what makes them.
_COMMANDS = {"patch_stats": "python -m experiments.patch_stats",
             "cifar_reference": "python -m experiments.cifar_reference --archive "
                                "../shared/data/cifar10-jpeg.tar.gz --budget-s 300 (on a GPU)",
             "cifar_reference_long": "python -m experiments.cifar_reference --archive "
                                     "../shared/data/cifar10-jpeg.tar.gz --methods baseline "
                                     "cutmix --budget-s 400 --name cifar_reference_long "
                                     "(on a GPU)"}


def render(results_root: pathlib.Path = RESULTS) -> str:
  results = load_results(results_root) if results_root.exists() else {}
  figures = results_root / "figures"
  figures.mkdir(parents=True, exist_ok=True)
  lines = ["_Generated by `python -m experiments.report` from `experiments/results/`; "
           "do not edit by hand._", ""]
  from experiments import report_claims  # It imports report_sweeps, which imports this module.
  lines += ["#### Claims", ""] + report_claims.claims_table(results)
  for name, section in SECTIONS.items():
    rows = results.get(name, [])
    planned = _planned_runs(name)
    progress = f"{len(rows)} of {planned} runs done" if planned else f"{len(rows)} results"
    lines += [f"#### {name} ({progress})", ""]
    if rows:
      lines += section(name, rows, figures, results)
    else:
      lines += [f"Not run yet: `{_COMMANDS.get(name, f'python -m experiments.study {name}')}`.",
                ""]
  return "\n".join(lines).rstrip() + "\n"


def _planned_runs(name: str) -> int | None:
  """How many runs the study defines (None for result sets that are not studies)."""
  from experiments import studies  # pylint: disable=g-import-not-at-top
  return len(studies.load(name).runs) if name in studies.names() else None


def replace_block(readme: str, block: str) -> str:
  if BEGIN not in readme or END not in readme:
    raise ValueError(f"README.md has no {BEGIN} ... {END} block")
  head, rest = readme.split(BEGIN, 1)
  _, tail = rest.split(END, 1)
  return f"{head}{BEGIN}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m experiments.report",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--check", action="store_true", help="only check the README is current")
  parser.add_argument("--results", type=pathlib.Path, default=RESULTS)
  args = parser.parse_args(argv)
  try:
    text = README.read_text()
    updated = replace_block(text, render(args.results))
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if args.check:
    if updated != text:
      print("README.md's report block is out of date: run python -m experiments.report",
            file=sys.stderr)
      return 1
    return 0
  README.write_text(updated)
  print(f"wrote the report block of {README}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

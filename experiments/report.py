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


def load_results(results_root: pathlib.Path = RESULTS) -> dict[str, list[dict]]:
  out = {}
  for folder in sorted(p for p in results_root.iterdir() if p.is_dir() and p.name != "figures"):
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
  return (f"`python -m experiments.study {study}`; {', '.join(kinds)}; "
          f"{dates[0]}{' to ' + dates[-1] if dates[-1] != dates[0] else ''}; "
          f"{'/'.join(map(str, epochs))} epochs; seeds {', '.join(map(str, seeds))}; "
          f"{len(rows)} runs; code {', '.join(commits)}")


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
  mean, sd = analysis.mean_sd([v * scale for v in values])
  return f"{mean:.{digits}f} ± {sd:.{digits}f}"


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
           "| ECE % after T | NLL after T | T |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
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
        f"| {fmt_pm([cal(r, 'temperature') for r in rs], 1, 2)} |")
  lines += ["", "`*`: the 95% interval excludes 0. Error, ECE and NLL on the odd-indexed half "
            "of the test set; T fitted on the even half.", ""]
  if "baseline" in groups:
    for m in methods:
      if m != "baseline":
        lines.append("- " + verdict(paired_vs(groups, m, "baseline", err), "lower",
                                    "top-1 error", f"{m} vs baseline"))
    lines.append("")
  fig = figures / f"{name}_reliability.png"
  reliability_figure(groups, fig)
  lines += [f"![Reliability diagrams, {name}]({fig.relative_to(REPO_ROOT)})", ""]
  return lines


SECTIONS: dict[str, Callable[[str, Sequence[dict], pathlib.Path], list[str]]] = {
    "cifar_methods": section_methods,
}


def render(results_root: pathlib.Path = RESULTS) -> str:
  results = load_results(results_root) if results_root.exists() else {}
  figures = results_root / "figures"
  figures.mkdir(parents=True, exist_ok=True)
  lines = ["_Generated by `python -m experiments.report` from `experiments/results/`; "
           "do not edit by hand._", ""]
  for name, rows in results.items():
    if name in SECTIONS:
      lines += SECTIONS[name](name, rows, figures)
  missing = [n for n in SECTIONS if n not in results]
  if missing:
    lines += [f"Not run yet: {', '.join(missing)}.", ""]
  return "\n".join(lines).rstrip() + "\n"


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

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
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
import json
import pathlib
import sys

from experiments import analysis

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "experiments" / "results"
README = REPO_ROOT / "docs" / "experiments.md"
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
  # Results made outside the study runner (cifar_reference) carry their own command; a result
  # set grown by several invocations names each, with how many of its runs it made.
  counts = Counter(r.get("study_command", f"python -m experiments.study {study}") for r in rows)
  runs = lambda n: f"{n} run{'s' if n != 1 else ''}"
  command = "; ".join(f"`{c}`" + (f" ({runs(n)})" if len(counts) > 1 else "")
                      for c, n in counts.items())
  return (f"{command}; {', '.join(kinds)}; "
          f"{dates[0]}{' to ' + dates[-1] if dates[-1] != dates[0] else ''}; "
          f"{'/'.join(map(str, epochs))} epochs; seeds {', '.join(map(str, seeds))}; "
          f"{runs(len(rows))}; code {', '.join(commits)}")


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


def _methods_full(name, rows, figures):
  from experiments.report_methods import section_methods_full  # It imports this module.
  return section_methods_full(name, rows, figures)


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
    "cifar_methods": _alone(_methods_full),
    "cifar_reference": _alone(_reference),
    "cifar_reference_long": _alone(_reference),
    "shapes_methods": _alone(_methods_full),
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
                                     "cutmix --epochs 85 --name cifar_reference_long, then "
                                     "the same with --methods cutout mixup (on a GPU)"}


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

"""The report's section for the reference-scale study (`python -m experiments.cifar_reference`).

Its rows may come partly from an invocation's log (see `experiments.report.results`): those
have error, ECE and train accuracy but no NLL, temperature scaling or occlusion curves.
"""

from __future__ import annotations

from collections.abc import Sequence
import pathlib

from experiments.report import methods
from experiments.report.format import diff_vs, fmt_pm, provenance
from experiments.report.results import by_tag, error, order


def _ece(r: dict) -> float:
  return r["analysis"]["calibration"]["ece"]


def section_reference(name: str, rows: Sequence[dict], folder: pathlib.Path) -> list[str]:
  """Error, ECE and train accuracy per method, paired by seed with the baseline, then
  accuracy under occlusion where the runs have it."""
  groups = by_tag(rows, "method")
  lines = [f"**{name}** — {provenance(rows)}", "",
           "| method | seeds | top-1 error % | Δ error vs baseline (95% CI) | ECE % "
           "| Δ ECE vs baseline (95% CI) | train accuracy % (last epoch) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for m in order(groups):
    rs = list(groups[m].values())
    train = [r["epochs"][-1]["train_accuracy"] for r in rs]
    lines.append(f"| {m} | {len(rs)} | {fmt_pm([error(r) for r in rs])} "
                 f"| {diff_vs(groups, m, error)} | {fmt_pm([_ece(r) for r in rs])} "
                 f"| {diff_vs(groups, m, _ece)} | {fmt_pm(train)} |")
  lines += (["", _recipe(rows)] + _from_log_note(rows) + [""]
            + methods.verdicts_vs_baseline(groups, error, "top-1 error"))
  # Occlusion curves exist only in the returned JSONs (not in rows filled from the log).
  return lines + methods.section_robustness(
      name, [r for r in rows if "occlusion" in r.get("analysis", {})], folder)


def _recipe(rows: Sequence[dict]) -> str:
  invocations = len({r.get("study_command") for r in rows})
  stacked = (f"all {len(rows)} models trained in one invocation" if invocations == 1 else
             f"{len(rows)} models trained in {invocations} invocations of it (a seed's "
             "models share init, batch order and crops across invocations)")
  return ("PreAct-ResNet-18 (bfloat16) on all 50,000 training images of the JPEG "
          "CIFAR-10 archive, the CPU studies' recipe (SGD + Nesterov, cosine, wd 5e-4, crop + "
          f"flip; batch 256, peak lr 0.2), {stacked}. Error on the 10,000 test images; ECE "
          "(15 bins) on the odd-indexed half. Δ: paired by seed, 95% t interval, `*` where it "
          "excludes 0. Train accuracy: the last epoch's running accuracy on the batches as "
          "trained (mixed ones for the mixing methods).")


def _from_log_note(rows: Sequence[dict]) -> list[str]:
  from_log = sorted(r["run"] for r in rows if "from_log" in r)
  if not from_log:
    return []
  return ["", f"Rows of {', '.join(from_log)} come from the invocation's log "
          f"(`{rows[0]['study']}/*.log`): the device returned only some of the result "
          "JSONs, so their NLL, temperature scaling and occlusion curves are not here."]

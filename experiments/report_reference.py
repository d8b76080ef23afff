"""The reference-scale study's report rows: one invocation's log, completed by its result JSONs.

`python -m experiments.cifar_reference` prints each model's test accuracy and ECE, and the last
epoch's train accuracies, before it writes one JSON per model. A lent device can return fewer
files than a study writes, so `experiments/results/cifar_reference/` may hold the whole log of
an invocation (`*.log`) but only some of its JSONs. Every model gets a row from the log; where
its JSON exists, the JSON is the row (after checking it agrees with the log).
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Sequence


_RESULT = re.compile(r"^(\w+)/seed(\d+): test accuracy ([\d.]+), ECE ([\d.]+)$")
_EPOCH = re.compile(r"^epoch (\d+)/(\d+): .*train accuracy ((?:[\d.]+ ?)+)$")


def parse_log(text: str) -> list[dict]:
  """[{method, seed, accuracy, ece, train_accuracy, epochs}] in the log's model order."""
  results, last_epoch = [], None
  for line in text.splitlines():
    if m := _EPOCH.match(line.strip()):
      last_epoch = (int(m.group(1)), int(m.group(2)), [float(a) for a in m.group(3).split()])
    elif m := _RESULT.match(line.strip()):
      results.append({"method": m.group(1), "seed": int(m.group(2)),
                      "accuracy": float(m.group(3)), "ece": float(m.group(4))})
  if not results:
    raise ValueError("no '<method>/seed<k>: test accuracy …' lines in the log")
  if last_epoch is None or last_epoch[0] != last_epoch[1] or len(last_epoch[2]) != len(results):
    raise ValueError("the log's last epoch line does not cover every model")
  for r, train_accuracy in zip(results, last_epoch[2]):
    r["train_accuracy"], r["epochs"] = train_accuracy, last_epoch[1]
  return results


def load(folder: pathlib.Path) -> list[dict]:
  """Rows in the study runner's schema: each JSON, plus a log row for each model without one."""
  rows = {(r["tags"]["method"], r["seed"]): r
          for r in (json.loads(p.read_text()) for p in sorted(folder.glob("*.json")))}
  for log in sorted(folder.glob("*.log")):
    parsed = parse_log(log.read_text())
    # The invocation's provenance (command, device, date, code) from any of its JSONs.
    template = next((rows[k] for k in ((p["method"], p["seed"]) for p in parsed) if k in rows),
                    None)
    if template is None:
      raise ValueError(f"{log}: no result JSON of this invocation to take provenance from")
    for p in parsed:
      key = (p["method"], p["seed"])
      if key in rows:
        if abs(rows[key]["summary"]["eval_accuracy"] - p["accuracy"]) > 1e-4:
          raise ValueError(f"{log}: {key} test accuracy {p['accuracy']} differs from its JSON")
        continue
      config = dict(template["config"], mix={"baseline": "none"}.get(p["method"], p["method"]),
                    seed=p["seed"])
      rows[key] = {
          "study": template["study"], "run": f"{p['method']}/seed{p['seed']}",
          "tags": {"method": p["method"], "seed": p["seed"]}, "seed": p["seed"],
          "config": config, "summary": {"eval_accuracy": p["accuracy"]},
          "analysis": {"calibration": {"ece": p["ece"]}},
          "epochs": [{"epoch": float(p["epochs"]), "train_accuracy": p["train_accuracy"]}],
          "device": template["device"], "finished_at": template["finished_at"],
          "git_commit": template["git_commit"], "command": template["command"],
          "study_command": template["study_command"], "from_log": log.name,
      }
  return list(rows.values())


def section_reference(name: str, rows: Sequence[dict], figures: pathlib.Path) -> list[str]:
  """Error, ECE and train accuracy per method, paired by seed with the baseline, then
  accuracy under occlusion where the runs have it."""
  from experiments import report  # It imports this module.
  groups = report.by_tag(rows, "method")
  err = lambda r: 1.0 - r["summary"]["eval_accuracy"]
  ece = lambda r: r["analysis"]["calibration"]["ece"]
  lines = [f"**{name}** — {report.provenance(rows)}", "",
           "| method | seeds | top-1 error % | Δ error vs baseline (95% CI) | ECE % "
           "| Δ ECE vs baseline (95% CI) | train accuracy % (last epoch) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for m in report._order(groups):   # pylint: disable=protected-access
    rs = list(groups[m].values())
    vs = lambda metric, m=m: ("–" if m == "baseline" or "baseline" not in groups
                              else report.fmt_diff(report.paired_vs(groups, m, "baseline",
                                                                    metric)))
    train = [r["epochs"][-1]["train_accuracy"] for r in rs]
    lines.append(f"| {m} | {len(rs)} | {report.fmt_pm([err(r) for r in rs])} | {vs(err)} "
                 f"| {report.fmt_pm([ece(r) for r in rs])} | {vs(ece)} "
                 f"| {report.fmt_pm(train)} |")
  from_log = sorted(r["run"] for r in rows if "from_log" in r)
  invocations = len({r.get("study_command") for r in rows})
  stacked = (f"all {len(rows)} models trained in one invocation" if invocations == 1 else
             f"{len(rows)} models trained in {invocations} invocations of it (a seed's "
             "models share init, batch order and crops across invocations)")
  lines += ["", "PreAct-ResNet-18 (bfloat16) on all 50,000 training images of the JPEG "
            "CIFAR-10 archive, the CPU studies' recipe (SGD + Nesterov, cosine, wd 5e-4, crop + "
            f"flip; batch 256, peak lr 0.2), {stacked}. Error on the 10,000 test images; ECE "
            "(15 bins) on the odd-indexed half. Δ: paired by seed, 95% t interval, `*` where it "
            "excludes 0. Train accuracy: the last epoch's running accuracy on the batches as "
            "trained (mixed ones for the mixing methods)."]
  if from_log:
    lines += ["", f"Rows of {', '.join(from_log)} come from the invocation's log "
              f"(`{rows[0]['study']}/*.log`): the device returned only some of the result "
              "JSONs, so their NLL, temperature scaling and occlusion curves are not here."]
  if "baseline" in groups:
    lines.append("")
    for m in report._order(groups):   # pylint: disable=protected-access
      if m != "baseline":
        lines.append("- " + report.verdict(report.paired_vs(groups, m, "baseline", err),
                                           "lower", "top-1 error", f"{m} vs baseline"))
  # Occlusion curves exist only in the returned JSONs (not in rows filled from the log).
  from experiments import report_methods  # pylint: disable=g-import-not-at-top
  return lines + [""] + report_methods.section_robustness(
      name, [r for r in rows if "occlusion" in r.get("analysis", {})], figures)


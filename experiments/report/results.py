"""The committed results, as the report reads them: one list of rows per result set.

A row is a result JSON in the study runner's schema (`experiments.study.run_one`). The
reference-scale set is special: `python -m experiments.cifar_reference` prints each model's test
accuracy and ECE, and the last epoch's train accuracies, before it writes one JSON per model, and
a lent device can return fewer files than it wrote. So a result folder may hold the whole log of
an invocation (`*.log`) but only some of its JSONs: every model gets a row from the log; where
its JSON exists, the JSON is the row (after checking it agrees with the log).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
import json
import pathlib
import re

METHOD_ORDER = ("baseline", "cutout", "mixup", "cutmix", "resizemix", "saliencymix", "fmix")

_RESULT = re.compile(r"^(\w+)/seed(\d+): test accuracy ([\d.]+), ECE ([\d.]+)$")
_EPOCH = re.compile(r"^epoch (\d+)/(\d+): .*train accuracy ((?:[\d.]+ ?)+)$")


def load_results(results_root: pathlib.Path) -> dict[str, list[dict]]:
  """{result set: rows} of every folder of `results_root` but figures/ (empty ones left out)."""
  out = {}
  for folder in sorted(p for p in results_root.iterdir() if p.is_dir() and p.name != "figures"):
    if rows := load_folder(folder):
      out[folder.name] = rows
  return out


def load_folder(folder: pathlib.Path) -> list[dict]:
  """Rows of one result set: each JSON, plus a row from the logs for each model without one."""
  jsons = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
  logs = sorted(folder.glob("*.log"))
  if not logs:
    return jsons
  rows = {(r["tags"]["method"], r["seed"]): r for r in jsons}
  for log in logs:
    parsed = parse_log(log.read_text())
    # The invocation's provenance (command, device, date, code) from any of its JSONs.
    template = next((rows[k] for k in ((p["method"], p["seed"]) for p in parsed) if k in rows),
                    None)
    if template is None:
      raise ValueError(f"{log}: no result JSON of this invocation to take provenance from")
    for p in parsed:
      key = (p["method"], p["seed"])
      if key not in rows:
        rows[key] = _row_from_log(p, template, log.name)
      elif abs(rows[key]["summary"]["eval_accuracy"] - p["accuracy"]) > 1e-4:
        raise ValueError(f"{log}: {key} test accuracy {p['accuracy']} differs from its JSON")
  return list(rows.values())


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


def _row_from_log(p: dict, template: dict, log_name: str) -> dict:
  """A row in the runner's schema from one parsed log entry and its invocation's provenance."""
  config = dict(template["config"], mix={"baseline": "none"}.get(p["method"], p["method"]),
                seed=p["seed"])
  return {
      "study": template["study"], "run": f"{p['method']}/seed{p['seed']}",
      "tags": {"method": p["method"], "seed": p["seed"]}, "seed": p["seed"],
      "config": config, "summary": {"eval_accuracy": p["accuracy"]},
      "analysis": {"calibration": {"ece": p["ece"]}},
      "epochs": [{"epoch": float(p["epochs"]), "train_accuracy": p["train_accuracy"]}],
      "device": template["device"], "finished_at": template["finished_at"],
      "git_commit": template["git_commit"], "command": template["command"],
      "study_command": template["study_command"], "from_log": log_name,
  }


def by_tag(rows: Sequence[dict], tag: str) -> dict[str, dict[int, dict]]:
  """{tag value: {seed: result}}."""
  groups: dict[str, dict[int, dict]] = defaultdict(dict)
  for r in rows:
    groups[str(r["tags"][tag])][r["seed"]] = r
  return groups


def order(keys, first: Sequence[str] = METHOD_ORDER) -> list[str]:
  """`keys` in the order of `first`, others after them by name."""
  rank = {m: i for i, m in enumerate(first)}
  return sorted(keys, key=lambda k: (rank.get(k, len(rank)), k))


def error(r: Mapping) -> float:
  """Top-1 error of a classification run."""
  return 1.0 - r["summary"]["eval_accuracy"]


def occluded(r: Mapping, kind: str = "random_zero", fraction: float = 0.25) -> float:
  """Accuracy of a run on test images with `fraction` of each occluded (`kind` of box, fill)."""
  occ = r["analysis"]["occlusion"]
  return occ[kind][occ["fractions"].index(fraction)]

"""The report's sweep sections: data efficiency and aggressive sampling.

Both sweeps share runs with `cifar_methods` by design (same recipe, same seeds): its baseline
and CutMix runs are the 5,000-image CIFAR-10 points of `data_efficiency` and the baseline and
default setting (α = 1, prob 0.5) of `aggressive_sampling`. `shared_runs` takes them over only
when their configs equal the sweep's own in everything but the swept fields, and says so in
the table. Each section has the signature of `experiments.report.SECTIONS` entries plus the
other studies' results.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
import pathlib

import numpy as np

from experiments import analysis

# Config fields that legitimately differ between a run and the one it is paired with.
_RUN_FIELDS = ("seed", "num_epochs", "num_train_steps", "train_size", "eval_every_epochs",
               "checkpoint_every_steps")
DEFAULT_SETTING = "alpha1/p0.5"


def error(r: Mapping) -> float:
  return 1.0 - r["summary"]["eval_accuracy"]


def setting_of(r: Mapping) -> str:
  """The run name without its seed: "alpha0.2/p0.5/seed1" → "alpha0.2/p0.5"."""
  return r["run"].rsplit("/seed", 1)[0]


def _unset(value):
  """Empty and None spell the same "off" across config versions (e.g. cutmix_minmax None
  before it became ())."""
  return None if value in (None, (), [], {}) else value


def recipe_difference(a: Mapping, b: Mapping, ignore: Iterable[str]) -> list[str]:
  """Config fields (outside `ignore`) whose values differ between two runs.

  A field that one run's config lacks was added to the config after that run: it ran with the
  field's default (the feature did not exist), so the default stands in for it.
  """
  from experiments.configs import default  # Deferred: ml_collections only when comparing.
  defaults = default.get_config().to_dict()
  skip = set(_RUN_FIELDS) | set(ignore)
  keys = (set(a["config"]) | set(b["config"])) - skip
  value = lambda run, k: _unset(run["config"].get(k, defaults.get(k)))
  # JSON turns tuples into lists; compare in that form.
  canon = lambda v: list(v) if isinstance(v, tuple) else v
  return sorted(k for k in keys if canon(value(a, k)) != canon(value(b, k)))


def shared_runs(others: Sequence[dict], method: str, like: dict | None, ignore: Iterable[str],
                **tags) -> tuple[list[dict], str]:
  """`cifar_methods` runs of `method` re-tagged for a sweep, if their recipe matches `like`.

  Returns (runs, note); runs is empty (and note says why) when the recipes differ or when the
  sweep has no run to compare with yet.
  """
  mine = [r for r in others if r["tags"].get("method") == method]
  if not mine or like is None:
    return [], ""
  diff = recipe_difference(mine[0], like, ignore)
  if like["summary"]["steps"] != mine[0]["summary"]["steps"]:
    diff.append("steps")
  if diff:
    return [], f"cifar_methods' {method} runs not shared: their recipe differs in {diff}."
  return [dict(r, tags={**r["tags"], **tags}, shared_from="cifar_methods") for r in mine], ""


def paired(groups: Mapping[str, Mapping[int, dict]], a: str, b: str, metric=error) -> dict:
  """Per-seed metric(a) − metric(b) over the seeds both have: mean and 95% t interval."""
  seeds = sorted(set(groups.get(a, {})) & set(groups.get(b, {})))
  return analysis.paired_difference([metric(groups[a][s]) for s in seeds],
                                    [metric(groups[b][s]) for s in seeds])


def fmt_diff(d: dict) -> str:
  if d["n"] == 0:
    return "–"
  if d["n"] < 2:
    return f"{100 * d['mean']:+.2f} (n=1)"
  star = "" if d["lo"] <= 0 <= d["hi"] else " *"
  return f"{100 * d['mean']:+.2f} [{100 * d['lo']:+.2f}, {100 * d['hi']:+.2f}]{star}"


def fmt_pm(values: Sequence[float]) -> str:
  if not values:
    return "–"
  mean, sd = analysis.mean_sd([100 * v for v in values])
  return f"{mean:.2f}" if len(values) < 2 else f"{mean:.2f} ± {sd:.2f}"


def say(d: dict, what: str, lower: str, higher: str, min_seeds: int = 3) -> str:
  """One sentence for a paired difference: the direction only where the interval excludes 0."""
  if d["n"] < min_seeds:
    return f"{what}: {d['n']} of {min_seeds} paired seeds, no verdict yet."
  interval = (f"paired Δ {100 * d['mean']:+.2f} points, 95% CI [{100 * d['lo']:+.2f}, "
              f"{100 * d['hi']:+.2f}]")
  if d["lo"] <= 0 <= d["hi"]:
    return f"{what}: no difference ({interval} includes 0)."
  return f"{what}: {lower if d['mean'] < 0 else higher} ({interval})."


# ------------------------------------------------------------------------- data efficiency


def efficiency_groups(rows: Sequence[dict], results: Mapping[str, Sequence[dict]]):
  """({(dataset, size): {method: {seed: run}}}, notes), cifar_methods' 5k runs included."""
  groups: dict[tuple, dict[str, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
  notes = []
  for method in ("baseline", "cutmix"):
    like = next((r for r in rows if r["tags"]["method"] == method
                 and r["tags"]["dataset"] == "cifar10_jpeg"), None)
    shared, note = shared_runs(results.get("cifar_methods", []), method, like, ignore=(),
                               dataset="cifar10_jpeg", train_size=5000)
    notes += [note] if note else []
    for r in list(rows) + shared:
      t = r["tags"]
      groups[(t["dataset"], int(t["train_size"]))][t["method"]][r["seed"]] = r
  return groups, notes


def gain(g: Mapping[str, Mapping[int, dict]]) -> dict[int, float]:
  """Per seed: CutMix error − baseline error (negative: CutMix helps)."""
  seeds = sorted(set(g.get("cutmix", {})) & set(g.get("baseline", {})))
  return {s: error(g["cutmix"][s]) - error(g["baseline"][s]) for s in seeds}


def gain_change(groups, a: tuple, b: tuple) -> dict:
  """Per seed: gain at `a` − gain at `b`, paired over the seeds both have."""
  ga, gb = gain(groups.get(a, {})), gain(groups.get(b, {}))
  seeds = sorted(set(ga) & set(gb))
  return analysis.paired_difference([ga[s] for s in seeds], [gb[s] for s in seeds])


def efficiency_figure(groups, path: pathlib.Path) -> bool:
  import matplotlib  # Deferred: only the report draws.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.2))
  drawn = False
  for dataset, marker in (("cifar10_jpeg", "o-"), ("fashion_mnist_idx", "s")):
    pts = []
    for (ds, size), g in sorted(groups.items()):
      d = analysis.paired_difference(list(gain(g).values()), [0.0] * len(gain(g)))
      if ds == dataset and d["n"] >= 1:
        pts.append((size, 100 * d["mean"], 0 if d["n"] < 2 else 100 * (d["hi"] - d["mean"])))
    if pts:
      x, y, e = map(np.asarray, zip(*pts))
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


def section_data_efficiency(name, rows, figures, results) -> list[str]:
  from experiments import report  # Deferred: report imports this module.
  groups, notes = efficiency_groups(rows, results)
  lines = [f"**{name}** — {report.provenance(rows)}", "",
           "Every run trains 1,170 steps of 128 images (30 epochs of 5k), so larger sets are "
           "seen for fewer epochs. Top-1 error % on the full test set, mean ± sd over seeds; "
           "gain = CutMix − baseline, paired by seed (negative: CutMix helps), `*` where the "
           "95% interval excludes 0.", "",
           "| dataset | train images | epochs | seeds | baseline error % | CutMix error % "
           "| gain (95% CI) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for (dataset, size), g in sorted(groups.items()):
    seeds = len(set(g.get("baseline", {})) | set(g.get("cutmix", {})))
    shared = any(r.get("shared_from") for by in g.values() for r in by.values())
    d = analysis.paired_difference(list(gain(g).values()), [0.0] * len(gain(g)))
    lines.append(
        f"| {dataset} | {size}{' (cifar_methods)' if shared else ''} | {1170 * 128 / size:.0f} "
        f"| {seeds} | {fmt_pm([error(r) for r in g.get('baseline', {}).values()])} "
        f"| {fmt_pm([error(r) for r in g.get('cutmix', {}).values()])} | {fmt_diff(d)} |")
  lines += [""] + [f"- {n}" for n in notes]
  for (dataset, size), g in sorted(groups.items()):
    d = paired(g, "cutmix", "baseline")
    lines.append("- " + say(d, f"{dataset}, {size} images, CutMix vs baseline error",
                            "CutMix lower", "CutMix higher"))
  sizes = sorted(s for ds, s in groups if ds == "cifar10_jpeg")
  if len(sizes) >= 2:
    d = gain_change(groups, ("cifar10_jpeg", sizes[0]), ("cifar10_jpeg", sizes[-1]))
    lines.append("- " + say(d, f"gain at {sizes[0]} minus gain at {sizes[-1]} CIFAR-10 images",
                            "larger gain with less data", "larger gain with more data"))
  if ("fashion_mnist_idx", 5000) in groups and ("cifar10_jpeg", 5000) in groups:
    d = gain_change(groups, ("fashion_mnist_idx", 5000), ("cifar10_jpeg", 5000))
    lines.append("- " + say(d, "gain on Fashion-MNIST minus gain on CIFAR-10, 5k images each",
                            "larger gain on Fashion-MNIST", "larger gain on CIFAR-10"))
  lines.append("")
  fig = figures / f"{name}_gain.png"
  if efficiency_figure(groups, fig):
    lines += [f"![CutMix gain vs training-set size, {name}]({report._link(fig)})", ""]  # pylint: disable=protected-access
  return lines


# ---------------------------------------------------------------------- aggressive sampling


def aggressive_groups(rows: Sequence[dict], results: Mapping[str, Sequence[dict]]):
  """({setting: {seed: run}}, notes): the sweep, cifar_methods' CutMix default and baseline."""
  groups: dict[str, dict[int, dict]] = defaultdict(dict)
  for r in rows:
    groups[setting_of(r)][r["seed"]] = r
  notes = []
  like = rows[0] if rows else None
  swept = ("cutmix_alpha", "mix_prob", "cutmix_minmax", "mix_off_last_epochs")
  default, note = shared_runs(results.get("cifar_methods", []), "cutmix", like, swept)
  notes += [note] if note else []
  base, note = shared_runs(results.get("cifar_methods", []), "baseline", like,
                           swept + ("mix", "mix_alpha"))
  notes += [note] if note else []
  for r in default:
    groups[DEFAULT_SETTING][r["seed"]] = r
  for r in base:
    groups["baseline"][r["seed"]] = r
  return groups, notes


def _setting_rank(setting: str) -> tuple:
  return (setting != "baseline", setting != DEFAULT_SETTING, setting)


def section_aggressive(name, rows, figures, results) -> list[str]:
  from experiments import report  # Deferred: report imports this module.
  del figures
  groups, notes = aggressive_groups(rows, results)
  lines = [f"**{name}** — {report.provenance(rows)}", "",
           "CutMix on the `cifar_methods` recipe; Δ paired by seed, 95% t interval, `*` where it "
           f"excludes 0. `{DEFAULT_SETTING}` (the CutMix paper's CIFAR setting) and `baseline` "
           "are `cifar_methods`' runs.", "",
           "| setting | seeds | top-1 error % | ECE % | Δ error vs α = 1, p = 0.5 "
           "| Δ error vs baseline |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for setting in sorted(groups, key=_setting_rank):
    rs = list(groups[setting].values())
    vs_default = "–" if setting in ("baseline", DEFAULT_SETTING) else fmt_diff(
        paired(groups, setting, DEFAULT_SETTING))
    vs_base = "–" if setting == "baseline" else fmt_diff(paired(groups, setting, "baseline"))
    ece = [r["analysis"]["calibration"]["ece"] for r in rs]
    lines.append(f"| {setting} | {len(rs)} | {fmt_pm([error(r) for r in rs])} | {fmt_pm(ece)} "
                 f"| {vs_default} | {vs_base} |")
  lines += [""] + [f"- {n}" for n in notes]
  for setting in sorted(groups, key=_setting_rank):
    if setting not in ("baseline", DEFAULT_SETTING):
      lines.append("- " + say(paired(groups, setting, DEFAULT_SETTING),
                              f"{setting} vs {DEFAULT_SETTING}", "lower error", "higher error"))
  if "alpha1/p1/off_last5" in groups and "alpha1/p1" in groups:
    lines.append("- " + say(paired(groups, "alpha1/p1/off_last5", "alpha1/p1"),
                            "switching prob-1 CutMix off for the last 5 epochs",
                            "lower error", "higher error"))
  return lines + [""]

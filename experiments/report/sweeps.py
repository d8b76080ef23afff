"""The report's sweep sections: data efficiency and aggressive sampling.

Both sweeps share runs with `cifar_methods` by design (same recipe, same seeds): its baseline
and CutMix runs are the 5,000-image CIFAR-10 points of `data_efficiency` and the baseline and
default setting (α = 1, prob 0.5) of `aggressive_sampling`. `shared_runs` takes them over only
when their configs equal the sweep's own in everything but the swept fields, and says so in
the table. Each section takes (study name, its rows, the figures folder, every result set's
rows) and returns Markdown lines.
"""

from __future__ import annotations

from collections import defaultdict
import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from experiments.configs import default
from experiments.report import figures
from experiments.report import regime
from experiments.report import stats
from experiments.report.format import diff_vs, fmt_diff, fmt_pm, link, provenance, verdict
from experiments.report.results import error

# Config fields that legitimately differ between a run and the one it is paired with.
_RUN_FIELDS = ("seed", "num_epochs", "num_train_steps", "train_size", "eval_every_epochs",
               "checkpoint_every_steps")
DEFAULT_SETTING = "alpha1/p0.5"


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
  defaults = default.get_config().to_dict()
  skip = set(_RUN_FIELDS) | set(ignore)
  keys = (set(a["config"]) | set(b["config"])) - skip
  value = lambda run, k: _unset(run["config"].get(k, defaults.get(k)))
  # JSON turns tuples into lists; compare in that form.
  canon = lambda v: list(v) if isinstance(v, tuple) else v
  return sorted(k for k in keys if canon(value(a, k)) != canon(value(b, k)))


def shared_runs(others: Sequence[dict], method: str, like: dict | None, ignore: Iterable[str],
                source: str = "cifar_methods", same: str = "steps",
                **tags) -> tuple[list[dict], str]:
  """`source`'s runs of `method` (`others`) re-tagged for a sweep, if their recipe matches
  `like` and they trained the `same` "steps" (a fixed budget) or "epochs" (a fixed number of
  passes, whatever the training set's size).

  Returns (runs, note); runs is empty (and note says why) when the recipes differ or when the
  sweep has no run to compare with yet.
  """
  mine = [r for r in others if r["tags"].get("method") == method]
  if not mine and like is not None:
    return [], f"{source} has no {method} runs yet."
  if not mine or like is None:
    return [], ""
  diff = recipe_difference(mine[0], like, ignore)
  if same == "steps" and like["summary"]["steps"] != mine[0]["summary"]["steps"]:
    diff.append("steps")
  if same == "epochs" and like["config"]["num_epochs"] != mine[0]["config"]["num_epochs"]:
    diff.append("num_epochs")
  if diff:
    return [], f"{source}' {method} runs not shared: their recipe differs in {diff}."
  return [dict(r, tags={**r["tags"], **tags}, shared_from=source) for r in mine], ""


def say(d: dict, what: str, lower: str, higher: str) -> str:
  """A sweep's verdict: a direction only from 3 paired seeds on."""
  return verdict(d, what, lower, higher, min_seeds=3)


# ------------------------------------------------------------------------- data efficiency


@dataclasses.dataclass(frozen=True)
class EfficiencyDesign:
  """How a data-efficiency sweep is run, and which runs of another study it shares."""
  source: str       # The study whose baseline and CutMix runs are one CIFAR-10 size of the sweep.
  shared_size: int
  same: str         # "steps" (a fixed budget) or "epochs" (a fixed number of passes).
  text: str


EFFICIENCY = {
    "data_efficiency": EfficiencyDesign(
        "cifar_methods", 5000, "steps",
        "Every run trains 1,170 steps of 128 images (30 epochs of 5k), so larger sets are seen "
        "for fewer epochs."),
    "data_efficiency_fit": EfficiencyDesign(
        "cifar_methods_fit", 2500, "epochs",
        "Every run trains 60 epochs, whatever the size, so size and passes are not confounded "
        "(a larger set also gets more steps)."),
    "data_efficiency_steps": EfficiencyDesign(
        "cifar_methods_fit", 2500, "steps",
        "Every run trains cifar_methods_fit's 1,140 steps of 128 images (60 epochs of 2.5k), "
        "so a smaller set is seen for more epochs; the budget in which both sizes fit."),
    "data_efficiency_reference": EfficiencyDesign(
        "cifar_reference_long", 50000, "epochs",
        "PreAct-ResNet-18 on an H200 (`python -m experiments.reference_plan claim5`): every run "
        "trains cifar_reference_long's 85 epochs, whatever the size, on a class-balanced subset; "
        "the 50,000-image point is cifar_reference_long's baseline and CutMix runs."),
}


def efficiency_groups(study: str, rows: Sequence[dict], results: Mapping[str, Sequence[dict]]):
  """({(dataset, size): {method: {seed: run}}}, notes), the shared study's runs included."""
  design = EFFICIENCY[study]
  groups: dict[tuple, dict[str, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
  notes = []
  for method in ("baseline", "cutmix"):
    like = next((r for r in rows if r["tags"]["method"] == method
                 and r["tags"]["dataset"] == "cifar10_jpeg"), None)
    shared, note = shared_runs(results.get(design.source, []), method, like, ignore=(),
                               source=design.source, same=design.same,
                               dataset="cifar10_jpeg", train_size=design.shared_size)
    notes += [note] if note else []
    for r in list(rows) + shared:
      t = r["tags"]
      groups[(t["dataset"], int(t["train_size"]))][t["method"]][r["seed"]] = r
  return groups, notes


def cifar_sizes(groups) -> list[int]:
  return sorted(s for ds, s in groups if ds == "cifar10_jpeg")


def diversity_size(groups) -> int | None:
  """The largest size with both Fashion-MNIST and CIFAR-10 runs (the less / more diverse pair)."""
  both = [s for ds, s in groups if ds == "fashion_mnist_idx" and ("cifar10_jpeg", s) in groups]
  return max(both) if both else None


def gain(g: Mapping[str, Mapping[int, dict]]) -> dict[int, float]:
  """Per seed: CutMix error − baseline error (negative: CutMix helps)."""
  seeds = sorted(set(g.get("cutmix", {})) & set(g.get("baseline", {})))
  return {s: error(g["cutmix"][s]) - error(g["baseline"][s]) for s in seeds}


def gain_change(groups, a: tuple, b: tuple) -> dict:
  """Per seed: gain at `a` − gain at `b`, paired over the seeds both have."""
  ga, gb = gain(groups.get(a, {})), gain(groups.get(b, {}))
  seeds = sorted(set(ga) & set(gb))
  return stats.paired_difference([ga[s] for s in seeds], [gb[s] for s in seeds])


def mean_gain(g: Mapping[str, Mapping[int, dict]]) -> dict:
  """The gain over seeds: mean and 95% t interval."""
  gains = list(gain(g).values())
  return stats.paired_difference(gains, [0.0] * len(gains))


def _gain_points(groups) -> dict[str, list[tuple[int, float, float]]]:
  """{dataset: [(size, gain, 95% half-width)]} in points, for the figure."""
  points = defaultdict(list)
  for (dataset, size), g in sorted(groups.items()):
    d = mean_gain(g)
    if d["n"] >= 1:
      points[dataset].append((size, 100 * d["mean"],
                              0 if d["n"] < 2 else 100 * (d["hi"] - d["mean"])))
  return points


def _efficiency_verdicts(groups) -> list[str]:
  lines = [say(stats.paired(g, "cutmix", "baseline", error),
               f"{dataset}, {size} images, CutMix vs baseline error", "CutMix lower",
               "CutMix higher") for (dataset, size), g in sorted(groups.items())]
  sizes = cifar_sizes(groups)
  if len(sizes) >= 2:
    d = gain_change(groups, ("cifar10_jpeg", sizes[0]), ("cifar10_jpeg", sizes[-1]))
    lines.append(say(d, f"gain at {sizes[0]} minus gain at {sizes[-1]} CIFAR-10 images",
                     "larger gain with less data", "larger gain with more data"))
  size = diversity_size(groups)
  if size is not None:
    d = gain_change(groups, ("fashion_mnist_idx", size), ("cifar10_jpeg", size))
    lines.append(say(d, f"gain on Fashion-MNIST minus gain on CIFAR-10, {size:,} images each",
                     "larger gain on Fashion-MNIST", "larger gain on CIFAR-10"))
  return ["- " + line for line in lines]


def section_data_efficiency(name, rows, folder, results) -> list[str]:
  """CutMix's gain over the baseline per dataset and training-set size."""
  groups, notes = efficiency_groups(name, rows, results)
  design = EFFICIENCY[name]
  lines = [f"**{name}** — {provenance(rows)}", "",
           f"{design.text} Top-1 error % on the full test set, mean ± sd over seeds; "
           "gain = CutMix − baseline, paired by seed (negative: CutMix helps), `*` where the "
           "95% interval excludes 0. Regime per size: the baseline's train accuracy (its final "
           "model's on its own un-augmented training images where stored, else the running one "
           f"over its last {regime.LAST_FRACTION:.0%} of epochs), *fits* from "
           f"{regime.FIT_ACCURACY:.0%}.", "",
           "| dataset | train images | epochs | seeds | baseline train accuracy % (regime) "
           "| baseline error % | CutMix error % | gain (95% CI) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for (dataset, size), g in sorted(groups.items()):
    seeds = len(set(g.get("baseline", {})) | set(g.get("cutmix", {})))
    shared = any(r.get("shared_from") for by in g.values() for r in by.values())
    fit = regime.of_baseline(list(g.get("baseline", {}).values()))
    fit_cell = ("–" if fit is None or fit.train_accuracy is None
                else f"{100 * fit.train_accuracy:.2f} ({regime.word(fit)})")
    lines.append(
        f"| {dataset} | {size}{f' ({design.source})' if shared else ''} "
        f"| {regime.epochs_trained(next(iter(next(iter(g.values())).values()))):.0f} "
        f"| {seeds} | {fit_cell} | {fmt_pm([error(r) for r in g.get('baseline', {}).values()])} "
        f"| {fmt_pm([error(r) for r in g.get('cutmix', {}).values()])} "
        f"| {fmt_diff(mean_gain(g))} |")
  lines += [""] + [f"- {n}" for n in notes] + _efficiency_verdicts(groups) + [""]
  fig = folder / f"{name}_gain.png"
  if figures.efficiency(_gain_points(groups), fig):
    lines += [f"![CutMix gain vs training-set size, {name}]({link(fig)})", ""]
  return lines


# ---------------------------------------------------------------------- aggressive sampling


def aggressive_groups(rows: Sequence[dict], results: Mapping[str, Sequence[dict]],
                      source: str = "cifar_methods"):
  """({setting: {seed: run}}, notes): the sweep, `source`'s CutMix default and baseline."""
  groups: dict[str, dict[int, dict]] = defaultdict(dict)
  for r in rows:
    groups[setting_of(r)][r["seed"]] = r
  notes = []
  like = rows[0] if rows else None
  swept = ("cutmix_alpha", "mix_prob", "cutmix_minmax", "mix_off_last_epochs")
  default_runs, note = shared_runs(results.get(source, []), "cutmix", like, swept, source)
  notes += [note] if note else []
  base, note = shared_runs(results.get(source, []), "baseline", like,
                           swept + ("mix", "mix_alpha"), source)
  notes += [note] if note else []
  for r in default_runs:
    groups[DEFAULT_SETTING][r["seed"]] = r
  for r in base:
    groups["baseline"][r["seed"]] = r
  return groups, notes


def _setting_rank(setting: str) -> tuple:
  return (setting != "baseline", setting != DEFAULT_SETTING, setting)


def section_aggressive(name, rows, folder, results) -> list[str]:
  """Each sampling setting's error, paired with α = 1, p = 0.5 and with the baseline (both
  from the study it shares them with, `regime.BASELINE_FROM`)."""
  del folder
  source = regime.BASELINE_FROM.get(name, "cifar_methods")
  groups, notes = aggressive_groups(rows, results, source)
  lines = [f"**{name}** — {provenance(rows)}", "",
           f"CutMix on the `{source}` recipe; Δ paired by seed, 95% t interval, `*` where it "
           f"excludes 0. `{DEFAULT_SETTING}` (the CutMix paper's CIFAR setting) and `baseline` "
           f"are `{source}`' runs.", "",
           "| setting | seeds | top-1 error % | ECE % | Δ error vs α = 1, p = 0.5 "
           "| Δ error vs baseline |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for setting in sorted(groups, key=_setting_rank):
    rs = list(groups[setting].values())
    vs_default = ("–" if setting == "baseline"
                  else diff_vs(groups, setting, error, DEFAULT_SETTING))
    ece = [r["analysis"]["calibration"]["ece"] for r in rs]
    lines.append(f"| {setting} | {len(rs)} | {fmt_pm([error(r) for r in rs])} | {fmt_pm(ece)} "
                 f"| {vs_default} | {diff_vs(groups, setting, error)} |")
  lines += [""] + [f"- {n}" for n in notes]
  for setting in sorted(groups, key=_setting_rank):
    if setting not in ("baseline", DEFAULT_SETTING):
      lines.append("- " + say(stats.paired(groups, setting, DEFAULT_SETTING, error),
                              f"{setting} vs {DEFAULT_SETTING}", "lower error", "higher error"))
  for setting in sorted(s for s in groups if "/off_last" in s):
    always, epochs = setting.rsplit("/off_last", 1)
    if always in groups:   # The same setting with mixing on to the end.
      lines.append("- " + say(stats.paired(groups, setting, always, error),
                              f"switching {always} off for the last {epochs} epochs",
                              "lower error", "higher error"))
  return lines + [""]

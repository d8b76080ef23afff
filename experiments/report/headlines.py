"""The claims table: each claim's headline (*holds here?*), its verdicts, its studies.

A claim's headline is decided on one primary paired comparison per result set (`PRIMARY`), with
3 paired seeds. The result sets where the baseline fits its training data come first and make
the headline; the others follow it under "underfitting regime" (or "fit not measured"), and
stand alone only while no fitting result set has runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from experiments.report import claims
from experiments.report import regime
from experiments.report import stats
from experiments.report import sweeps
from experiments.report.claims import MIN_SEEDS, Results, named
from experiments.report.results import error, occluded


def status(d: dict | None, holds_if: str) -> str:
  """Whether a claim holds here, from its primary paired difference (`holds_if`: "<0" or ">0")."""
  if d is None or d["n"] < MIN_SEEDS:
    return f"pending ({0 if d is None else d['n']} of {MIN_SEEDS} seeds)"
  if d["lo"] <= 0 <= d["hi"]:
    return "not shown (no difference)"
  return "**holds**" if (d["mean"] < 0) == (holds_if == "<0") else "**does not hold**"


def paired_status(a: str, b: str, metric, holds_if: str, keep=lambda r: True):
  """A study's status from `a` − `b` in `metric`."""
  def decide(results: Results, study: str) -> str:
    g = claims.by_method(results, study, keep)
    return status(stats.paired(g, a, b, metric) if a in g and b in g else None, holds_if)
  return decide


def aggressive_status(results: Results, study: str) -> str:
  """Holds if some setting has a higher error than α = 1, p = 0.5; not shown if none does."""
  groups, _ = sweeps.aggressive_groups(results[study], results, regime.BASELINE_FROM[study])
  default = sweeps.DEFAULT_SETTING
  diffs = [stats.paired(groups, s, default, error) for s in groups
           if s not in ("baseline", default)]
  if not diffs or min(d["n"] for d in diffs) < MIN_SEEDS:
    return status(min(diffs, key=lambda d: d["n"]) if diffs else None, ">0")
  return "**holds**" if any(d["lo"] > 0 for d in diffs) else "not shown (no setting worse)"


def efficiency_status(results: Results, study: str) -> str:
  """The claim's two halves: more data (CIFAR-10 gain at the smallest size − at the largest
  < 0) and, where the study has Fashion-MNIST, diverse data (the gain on less diverse
  Fashion-MNIST − on CIFAR-10 < 0: CutMix helps less on the more diverse set)."""
  groups, _ = sweeps.efficiency_groups(study, results[study], results)
  sizes = sweeps.cifar_sizes(groups)
  more_data = status(None if len(sizes) < 2 else sweeps.gain_change(
      groups, ("cifar10_jpeg", sizes[0]), ("cifar10_jpeg", sizes[-1])), "<0")
  size = sweeps.diversity_size(groups)
  if size is None:
    return more_data
  diverse = status(sweeps.gain_change(groups, ("fashion_mnist_idx", size),
                                      ("cifar10_jpeg", size)), "<0")
  return f"more data: {more_data}; diverse data: {diverse}"


def _efficiency_named(results: Results, study: str) -> tuple[bool | None, str]:
  groups, _ = sweeps.efficiency_groups(study, results[study], results)
  sizes = sweeps.cifar_sizes(groups)
  fits = claims.efficiency_regimes(groups, sizes)
  everywhere = {f.fits if f else None for f in fits}
  return (everywhere.pop() if len(everywhere) == 1 else False,
          f"{study} {regime.tag_many(fits)}")


Decide = Callable[[Results, str], str]
_ERROR = paired_status("cutmix", "baseline", error, "<0")
_ECE = paired_status("cutmix", "baseline", claims.ece("ece"), "<0")
_OCCLUSION = paired_status("cutmix", "baseline", occluded, ">0", claims.stored("occlusion"))

# (claim, verdict(results) -> text, [(study, decide(results, study) -> status)]).
CLAIMS: Sequence[tuple[str, Callable[[Results], str], Sequence[tuple[str, Decide]]]] = (
    ("1. CutMix beats baseline, Cutout and Mixup in accuracy", claims.accuracy,
     [(s, _ERROR) for s in claims.ACCURACY_STUDIES]),
    ("2. better calibrated (before / after temperature scaling)", claims.calibration,
     [(s, _ECE) for s in claims.CALIBRATION_STUDIES]),
    ("3. more robust to occlusion", claims.robustness,
     [(s, _OCCLUSION) for s in claims.OCCLUSION_STUDIES]),
    ("4. better localization (CAM → box, IoU ≥ 0.5)", claims.localization,
     [(s, paired_status("cutmix", "baseline", claims.gt_known, ">0",
                        claims.stored("localization"))) for s in claims.SHAPES_STUDIES]),
    ("5. gain shrinks with more data / on already diverse data", claims.data_efficiency,
     [(s, efficiency_status) for s in claims.EFFICIENCY_STUDIES]),
    ("6. too aggressive sampling hurts (α, prob, minmax, off for the last epochs)",
     claims.aggressive, [(s, aggressive_status) for s in claims.AGGRESSIVE_STUDIES]),
    ("7. falters where spatial coherence matters (segmentation)", claims.segmentation,
     [(s, paired_status("cutmix_images_only", "none", claims.miou, "<0"))
      for s in claims.SEGMENTATION_STUDIES]),
    ("8. pasted patches hide the object / carry none of the partner's, and variants fix it",
     claims.occluding_patches,
     [(s, paired_status("resizemix", "cutmix", error, "<0")) for s in claims.SHAPES_STUDIES]),
)

# What each status is decided on, in every result set the claim lists.
PRIMARY = ("CutMix − baseline top-1 error < 0",
           "CutMix − baseline ECE before scaling < 0",
           "CutMix − baseline accuracy with 25% zeroed > 0",
           "CutMix − baseline GT-known localization > 0",
           "CIFAR-10 gain at the smallest size − gain at the largest < 0; "
           "gain on Fashion-MNIST − gain on CIFAR-10 (same size) < 0",
           "some setting's error − error of α = 1, p = 0.5 > 0",
           "images-only CutMix − no mixing mIoU < 0 (falters)",
           "ResizeMix − CutMix top-1 error on shapes < 0 (the variant fixes it)")


def _fits_and_name(results: Results, study: str) -> tuple[bool | None, str]:
  """Whether the study's baseline fits (a sweep: at every size), and its tagged name."""
  if study in claims.EFFICIENCY_STUDIES:
    return _efficiency_named(results, study)
  fit = regime.of_study(study, results)
  return fit is not None and fit.fits, named(results, study)


def headline(results: Results, sources: Sequence[tuple[str, Decide]]) -> str:
  """Statuses of the sources with runs: fitting regimes first, then the rest, labelled."""
  fitting, others = [], []
  for study, decide in sources:
    if not results.get(study):
      continue
    fits, name = _fits_and_name(results, study)
    (fitting if fits else others).append(f"{decide(results, study)} — {name}")
  if not fitting and not others:
    return status(None, "<0")
  lines = fitting or ["no result where the baseline fits yet"]
  return "<br>".join(lines + (["*other regimes:*"] + others if others else []))


def brief(results: Results, sources: Sequence[tuple[str, Decide]]) -> str:
  """A claim's statuses in the result sets where the baseline fits, by study name only."""
  fitting = []
  for study, decide in sources:
    if not results.get(study):
      continue
    if _fits_and_name(results, study)[0]:
      fitting.append(f"`{study}`: {decide(results, study)}")
  return "; ".join(fitting) or "no result where the baseline fits yet"


def readme_table(results: Results) -> list[str]:
  """The README's short form of the claims table: the fitting regimes' statuses only."""
  lines = ["| claim | holds here? (only where the baseline fits its training data) |",
           "| --- | --- |"]
  lines += [f"| {claim} | {brief(results, sources)} |" for claim, _, sources in CLAIMS]
  return lines


def claims_table(results: Results) -> list[str]:
  lines = ["Each verdict: method − reference, paired by seed, in points, mean [95% interval]; "
           "*no difference* where the interval includes 0; none before 3 paired seeds. Each "
           "names its regime in brackets: *fits* where the baseline's train accuracy (its final "
           "model's on its own un-augmented training images where stored, else the running "
           f"one over its last {regime.LAST_FRACTION:.0%} of epochs) is ≥ "
           f"{regime.FIT_ACCURACY:.0%}, else "
           "*underfits* (or *fit not measured*), then epochs, training images, model and "
           "device. *Holds here?* is decided on one primary comparison per claim (listed below "
           "the table) in each result set; those where the baseline fits come first and make "
           "the headline, the underfitting ones follow, labelled.", "",
           "| claim | holds here? | verdict here | study |", "| --- | --- | --- | --- |"]
  for claim, verdict, sources in CLAIMS:
    studies = ", ".join(f"`{s}`" for s, _ in sources)
    if claim.startswith("8."):
      studies = "`patch_stats`, `patch_stats_64`, " + studies
    lines.append(f"| {claim} | {headline(results, sources)} | {verdict(results)} | {studies} |")
  lines += ["", "Primary comparisons: " + "; ".join(
      f"{i + 1}. {p}" for i, p in enumerate(PRIMARY)) + "."]
  return lines + [""]

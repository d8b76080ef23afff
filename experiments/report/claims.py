"""The report's claims table: each claim about CutMix, its verdict here in numbers, its study.

Every verdict is computed from the committed results, paired by seed with a 95% t interval: a
direction is stated only where the interval excludes 0, and nothing is stated before a
comparison has 3 paired seeds. So the table is as current as `experiments/results/`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from experiments.report import stats
from experiments.report import sweeps
from experiments.report.format import clause
from experiments.report.results import error, occluded

MIN_SEEDS = 3


def _methods(results, study: str, analysis: str | None = None) -> dict[str, dict[int, dict]]:
  """{method: {seed: run}} of a study's runs (only those that stored `analysis`, if given)."""
  groups: dict[str, dict[int, dict]] = defaultdict(dict)
  for r in results.get(study, []):
    if analysis is None or analysis in r.get("analysis", {}):
      groups[str(r["tags"]["method"])][r["seed"]] = r
  return groups


def _vs(groups, pairs, metric: Callable[[dict], float], lower: str, higher: str) -> str:
  parts = [f"{a} − {b}: {clause(stats.paired(groups, a, b, metric), lower, higher)}"
           for a, b in pairs if a in groups and b in groups]
  return "; ".join(parts) if parts else "no runs yet"


def accuracy(results) -> str:
  out = []
  for study in ("cifar_methods", "cifar_reference", "cifar_reference_long", "shapes_methods"):
    g = _methods(results, study)
    pairs = [("cutmix", m) for m in ("baseline", "cutout", "mixup")]
    out.append(f"{study}, top-1 error: " + _vs(g, pairs, error, "lower", "higher"))
  return "<br>".join(out)


def calibration(results) -> str:
  g = _methods(results, "cifar_methods")
  cal = lambda k: (lambda r: r["analysis"]["calibration"][k])
  return ("cifar_methods, ECE before scaling: "
          + _vs(g, [("cutmix", "baseline")], cal("ece"), "lower", "higher")
          + "<br>after temperature scaling: "
          + _vs(g, [("cutmix", "baseline")], cal("ece_scaled"), "lower", "higher")
          + "<br>cifar_reference (50k images, GPU), ECE before scaling: "
          + _vs(_methods(results, "cifar_reference"), [("cutmix", "baseline")], cal("ece"),
                "lower", "higher")
          + "<br>cifar_reference_long (50k images, 85 epochs, GPU), ECE before / after scaling: "
          + _vs(_methods(results, "cifar_reference_long"), [("cutmix", "baseline")], cal("ece"),
                "lower", "higher") + " / "
          + _vs(_methods(results, "cifar_reference_long", "calibration"), [("cutmix", "baseline")],
                cal("ece_scaled"), "lower", "higher"))


def robustness(results) -> str:
  out = []
  for study in ("cifar_methods", "cifar_reference_long", "shapes_methods"):
    g = _methods(results, study, "occlusion")
    out.append(f"{study}, accuracy with 25% of the image zeroed: "
               + _vs(g, [("cutmix", "baseline")], occluded, "lower", "higher"))
  return "<br>".join(out)


def localization(results) -> str:
  g = _methods(results, "shapes_methods", "localization")
  loc = lambda r: r["analysis"]["localization"]["gt_known_loc"]
  return ("shapes_methods, GT-known localization (IoU ≥ 0.5): "
          + _vs(g, [("cutmix", m) for m in ("baseline", "cutout", "mixup")], loc,
                "lower", "higher"))


def data_efficiency(results) -> str:
  rows = results.get("data_efficiency", [])
  if not rows:
    return "no runs yet"
  groups, _ = sweeps.efficiency_groups(rows, results)
  sizes = sorted(s for ds, s in groups if ds == "cifar10_jpeg")
  out = []
  for size in sizes:
    d = stats.paired(groups[("cifar10_jpeg", size)], "cutmix", "baseline", error)
    out.append(f"{size}: {clause(d, 'lower', 'higher')}")
  text = "CIFAR-10 CutMix − baseline error by training images: " + "; ".join(out)
  if len(sizes) >= 2:
    d = sweeps.gain_change(groups, ("cifar10_jpeg", sizes[0]), ("cifar10_jpeg", sizes[-1]))
    text += (f"<br>gain at {sizes[0]} − gain at {sizes[-1]}: "
             + clause(d, "larger gain with less data", "larger gain with more data"))
  if ("fashion_mnist_idx", 5000) in groups and ("cifar10_jpeg", 5000) in groups:
    d = sweeps.gain_change(groups, ("fashion_mnist_idx", 5000), ("cifar10_jpeg", 5000))
    text += ("<br>gain on Fashion-MNIST − gain on CIFAR-10 (5k each): "
             + clause(d, "larger gain on Fashion-MNIST", "larger gain on CIFAR-10"))
  return text


def aggressive(results) -> str:
  rows = results.get("aggressive_sampling", [])
  if not rows:
    return "no runs yet"
  groups, _ = sweeps.aggressive_groups(rows, results)
  default = sweeps.DEFAULT_SETTING
  parts = [f"{s}: {clause(stats.paired(groups, s, default, error), 'lower', 'higher')}"
           for s in sorted(groups) if s not in ("baseline", default)]
  return f"error − error of {default}: " + "; ".join(parts)


def segmentation(results) -> str:
  g = _methods(results, "segmentation")
  miou = lambda r: r["summary"]["eval_miou"]
  return "mIoU: " + _vs(g, [("cutmix_images_only", "none"), ("cutmix_consistent", "none"),
                            ("mixup_consistent", "none"),
                            ("cutmix_consistent", "cutmix_images_only")], miou, "lower", "higher")


def occluding_patches(results) -> str:
  stats = {r["op"]: r for r in results.get("patch_stats", [])}
  text = "".join(
      f"{op}: own object hidden in {100 * stats[op]['own_hidden']:.1f}% of mixes, partner's "
      f"object absent from the patch in {100 * stats[op]['partner_absent']:.1f}%<br>"
      for op in ("cutmix", "resizemix", "saliencymix", "fmix") if op in stats)
  g = _methods(results, "shapes_methods")
  return text + "shapes_methods, top-1 error: " + _vs(
      g, [(m, "cutmix") for m in ("resizemix", "saliencymix", "fmix")], error, "lower", "higher")


def status(d: dict | None, holds_if: str) -> str:
  """Whether a claim holds here, from its primary paired difference (`holds_if`: "<0" or ">0")."""
  if d is None or d["n"] < MIN_SEEDS:
    return f"pending ({0 if d is None else d['n']} of {MIN_SEEDS} seeds)"
  if d["lo"] <= 0 <= d["hi"]:
    return "not shown (no difference)"
  return "**holds**" if (d["mean"] < 0) == (holds_if == "<0") else "**does not hold**"


def _primary(results, study, a, b, metric, analysis=None):
  g = _methods(results, study, analysis)
  return stats.paired(g, a, b, metric) if a in g and b in g else None


def aggressive_status(results) -> str:
  """Holds if some setting has a higher error than α = 1, p = 0.5; not shown if none does."""
  rows = results.get("aggressive_sampling", [])
  if not rows:
    return status(None, ">0")
  groups, _ = sweeps.aggressive_groups(rows, results)
  default = sweeps.DEFAULT_SETTING
  diffs = [stats.paired(groups, s, default, error) for s in groups if s not in ("baseline", default)]
  if not diffs or min(d["n"] for d in diffs) < MIN_SEEDS:
    return status(min(diffs, key=lambda d: d["n"]) if diffs else None, ">0")
  worse = [d for d in diffs if d["lo"] > 0]
  return "**holds**" if worse else "not shown (no setting worse)"


def efficiency_status(results) -> str:
  rows = results.get("data_efficiency", [])
  groups, _ = sweeps.efficiency_groups(rows, results) if rows else ({}, [])
  sizes = sorted(s for ds, s in groups if ds == "cifar10_jpeg")
  if len(sizes) < 2:
    return status(None, "<0")
  return status(sweeps.gain_change(groups, ("cifar10_jpeg", sizes[0]),
                                          ("cifar10_jpeg", sizes[-1])), "<0")


def _with_reference_scale(metric, holds_if: str, analysis: str | None = None):
  """The primary status (cifar_methods, CutMix − baseline), then the same comparison at the
  reference scale (`cifar_reference_long`, a GPU result set) where it exists."""
  def holds(results) -> str:
    text = status(_primary(results, "cifar_methods", "cutmix", "baseline", metric, analysis),
                  holds_if)
    if results.get("cifar_reference_long"):
      text += ("<br>at reference scale: " + status(
          _primary(results, "cifar_reference_long", "cutmix", "baseline", metric, analysis),
          holds_if))
    return text
  return holds


# (claim, study, verdict(results) -> text, status(results) -> holds here?)
CLAIMS: Sequence[tuple[str, str, Callable[[Mapping], str], Callable[[Mapping], str]]] = (
    ("1. CutMix beats baseline, Cutout and Mixup in accuracy", "`cifar_methods`, "
     "`cifar_reference`, `cifar_reference_long`, `shapes_methods`", accuracy,
     _with_reference_scale(error, "<0")),
    ("2. better calibrated (before / after temperature scaling)",
     "`cifar_methods`, `cifar_reference`, `cifar_reference_long`", calibration,
     _with_reference_scale(lambda x: x["analysis"]["calibration"]["ece"], "<0")),
    ("3. more robust to occlusion", "`cifar_methods`, `cifar_reference_long`, `shapes_methods`",
     robustness, _with_reference_scale(occluded, ">0", "occlusion")),
    ("4. better localization (CAM → box, IoU ≥ 0.5)", "`shapes_methods`", localization,
     lambda r: status(_primary(r, "shapes_methods", "cutmix", "baseline",
                               lambda x: x["analysis"]["localization"]["gt_known_loc"],
                               "localization"), ">0")),
    ("5. gain shrinks with more data / on low-diversity data", "`data_efficiency`",
     data_efficiency, efficiency_status),
    ("6. too aggressive sampling hurts (α, prob, minmax, off for the last epochs)",
     "`aggressive_sampling`", aggressive, aggressive_status),
    ("7. falters where spatial coherence matters (segmentation)", "`segmentation`",
     segmentation,
     lambda r: status(_primary(r, "segmentation", "cutmix_images_only", "none",
                               lambda x: x["summary"]["eval_miou"]), "<0")),
    ("8. pasted patches hide the object / carry none of the partner's, and variants fix it",
     "`patch_stats`, `shapes_methods`", occluding_patches,
     lambda r: status(_primary(r, "shapes_methods", "resizemix", "cutmix", error), "<0")),
)

# What each status is decided on (the first comparison of its verdict).
PRIMARY = ("cifar_methods (and at reference scale, cifar_reference_long), CutMix − baseline "
           "top-1 error < 0",
           "the same, ECE < 0",
           "the same, accuracy with 25% zeroed > 0",
           "shapes_methods, CutMix − baseline GT-known localization > 0",
           "CIFAR-10 gain at the smallest size − gain at the largest < 0",
           "some setting's error − error of α = 1, p = 0.5 > 0",
           "images-only CutMix − no mixing mIoU < 0 (falters)",
           "ResizeMix − CutMix top-1 error on shapes < 0 (the variant fixes it)")


def claims_table(results: Mapping[str, Sequence[dict]]) -> list[str]:
  lines = ["Each verdict: method − reference, paired by seed, in points, mean [95% interval]; "
           "*no difference* where the interval includes 0; none before 3 paired seeds. "
           "*Holds here?* is decided on one primary comparison per claim (listed below the "
           "table).", "",
           "| claim | holds here? | verdict here | study |", "| --- | --- | --- | --- |"]
  for claim, study, verdict, holds in CLAIMS:
    lines.append(f"| {claim} | {holds(results)} | {verdict(results)} | {study} |")
  lines += ["", "Primary comparisons: " + "; ".join(
      f"{i + 1}. {p}" for i, p in enumerate(PRIMARY)) + "."]
  return lines + [""]

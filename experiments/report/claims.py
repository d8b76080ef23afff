"""The report's claims table: each claim about CutMix, its verdict here in numbers, its study.

Every verdict is computed from the committed results, paired by seed with a 95% t interval: a
direction is stated only where the interval excludes 0, and nothing is stated before a
comparison has 3 paired seeds. Every verdict names its regime (`experiments.report.regime`):
whether the baseline fits its training data, epochs, training images, model, device. A claim's
headline (*holds here?*) comes from the result sets where the baseline fits; the others follow
it, labelled, and stand alone only where no fitting result set has runs yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from experiments.report import regime
from experiments.report import stats
from experiments.report import sweeps
from experiments.report.format import clause
from experiments.report.results import error, occluded

MIN_SEEDS = 3
Results = Mapping[str, Sequence[dict]]


def by_method(results, study: str, keep: Callable[[dict], bool] = lambda r: True):
  """{method: {seed: run}} of a study's runs (those `keep` accepts)."""
  groups: dict[str, dict[int, dict]] = defaultdict(dict)
  for r in results.get(study, []):
    if keep(r):
      groups[str(r["tags"]["method"])][r["seed"]] = r
  return groups


def stored(analysis: str, key: str | None = None) -> Callable[[dict], bool]:
  """Runs that stored this analysis (and this key of it): rows from a log lack some."""
  return lambda r: analysis in r["analysis"] and (key is None or key in r["analysis"][analysis])


def _vs(groups, pairs, metric: Callable[[dict], float], lower: str, higher: str) -> str:
  parts = [f"{a} − {b}: {clause(stats.paired(groups, a, b, metric), lower, higher)}"
           for a, b in pairs if a in groups and b in groups]
  return "; ".join(parts) if parts else "pending (no paired runs yet)"


def named(results, study: str) -> str:
  """"cifar_methods [underfits: 30 epochs, 5,000 images, resnet_small, CPU]"."""
  return f"{study} {regime.tag(regime.of_study(study, results))}"


def ece(key: str) -> Callable[[dict], float]:
  return lambda r: r["analysis"]["calibration"][key]


def gt_known(r: dict) -> float:
  return r["analysis"]["localization"]["gt_known_loc"]


def miou(r: dict) -> float:
  return r["summary"]["eval_miou"]


ACCURACY_STUDIES = ("cifar_methods_fit", "cifar_reference_long", "cifar_reference",
                    "cifar_methods", "shapes_methods")
CALIBRATION_STUDIES = ("cifar_methods_fit", "cifar_reference_long", "cifar_reference",
                       "cifar_methods", "shapes_methods")
EFFICIENCY_STUDIES = ("data_efficiency_reference", "data_efficiency_steps", "data_efficiency_fit",
                      "data_efficiency")
AGGRESSIVE_STUDIES = ("aggressive_sampling_reference", "aggressive_sampling_fit",
                      "aggressive_sampling")
SEGMENTATION_STUDIES = ("segmentation_reference", "segmentation_fit", "segmentation")
# Claims 4 and 8 (localization; patches that hide the object): the shapes method studies.
SHAPES_STUDIES = ("shapes_methods_reference", "shapes_methods")
OCCLUSION_STUDIES = ("cifar_methods_fit", "cifar_reference_long", "cifar_methods",
                     "shapes_methods")


def accuracy(results) -> str:
  pairs = [("cutmix", m) for m in ("baseline", "cutout", "mixup")]
  return "<br>".join(f"{named(results, s)}, top-1 error: "
                     + _vs(by_method(results, s), pairs, error, "lower", "higher")
                     for s in ACCURACY_STUDIES if results.get(s))


def calibration(results) -> str:
  out = []
  for s in CALIBRATION_STUDIES:
    if results.get(s):
      before = _vs(by_method(results, s), [("cutmix", "baseline")], ece("ece"), "lower",
                   "higher")
      after = _vs(by_method(results, s, stored("calibration", "ece_scaled")),
                  [("cutmix", "baseline")], ece("ece_scaled"), "lower", "higher")
      out.append(f"{named(results, s)}, ECE before scaling: {before}; after temperature "
                 f"scaling: {after}")
  return "<br>".join(out)


def robustness(results) -> str:
  return "<br>".join(
      f"{named(results, s)}, accuracy with 25% of the image zeroed: "
      + _vs(by_method(results, s, stored("occlusion")), [("cutmix", "baseline")], occluded,
            "lower", "higher") for s in OCCLUSION_STUDIES if results.get(s))


def _shapes_studies(results) -> list[str]:
  """The shapes studies with runs (the CPU one, named as pending, while none has)."""
  return [s for s in SHAPES_STUDIES if results.get(s)] or ["shapes_methods"]


def localization(results) -> str:
  return "<br>".join(
      f"{named(results, s)}, GT-known localization (IoU ≥ 0.5): "
      + _vs(by_method(results, s, stored("localization")),
            [("cutmix", m) for m in ("baseline", "cutout", "mixup")], gt_known, "lower",
            "higher") for s in _shapes_studies(results))


def efficiency_regimes(groups, sizes) -> list:
  return [regime.of_baseline(list(groups[("cifar10_jpeg", s)].get("baseline", {}).values()))
          for s in sizes]


def _efficiency(results, study: str) -> str:
  groups, _ = sweeps.efficiency_groups(study, results[study], results)
  sizes = sweeps.cifar_sizes(groups)
  out = []
  for size, fit in zip(sizes, efficiency_regimes(groups, sizes)):
    d = stats.paired(groups[("cifar10_jpeg", size)], "cutmix", "baseline", error)
    out.append(f"{size} {regime.tag(fit)}: {clause(d, 'lower', 'higher')}")
  text = f"{study}: CIFAR-10 CutMix − baseline error by training images: " + "; ".join(out)
  if len(sizes) >= 2:
    d = sweeps.gain_change(groups, ("cifar10_jpeg", sizes[0]), ("cifar10_jpeg", sizes[-1]))
    text += (f"<br>gain at {sizes[0]} − gain at {sizes[-1]}: "
             + clause(d, "larger gain with less data", "larger gain with more data"))
  size = sweeps.diversity_size(groups)
  if size is not None:
    fashion = regime.of_baseline(list(groups[("fashion_mnist_idx", size)]["baseline"].values()))
    d = sweeps.gain_change(groups, ("fashion_mnist_idx", size), ("cifar10_jpeg", size))
    text += (f"<br>gain on Fashion-MNIST {regime.tag(fashion)} − gain on CIFAR-10 "
             f"({size:,} each): "
             + clause(d, "larger gain on Fashion-MNIST", "larger gain on CIFAR-10"))
  return text


def data_efficiency(results) -> str:
  texts = [_efficiency(results, s) for s in EFFICIENCY_STUDIES if results.get(s)]
  return "<br>".join(texts) or "pending (no runs yet)"


def aggressive(results) -> str:
  out = []
  for study in AGGRESSIVE_STUDIES:
    rows = results.get(study, [])
    if not rows:
      continue
    groups, _ = sweeps.aggressive_groups(rows, results, regime.BASELINE_FROM[study])
    default = sweeps.DEFAULT_SETTING
    parts = [f"{s}: {clause(stats.paired(groups, s, default, error), 'lower', 'higher')}"
             for s in sorted(groups) if s not in ("baseline", default)]
    out.append(f"{named(results, study)}, error − error of {default}: " + "; ".join(parts))
  return "<br>".join(out) or "pending (no runs yet)"


def segmentation(results) -> str:
  out = []
  for study in SEGMENTATION_STUDIES:
    if results.get(study):
      g = by_method(results, study)
      out.append(f"{named(results, study)}, mIoU: " + _vs(
          g, [("cutmix_images_only", "none"), ("cutmix_consistent", "none"),
              ("mixup_consistent", "none"), ("cutmix_consistent", "cutmix_images_only")], miou,
          "lower", "higher"))
  return "<br>".join(out) or "pending (no runs yet)"


def _patches_64(results) -> str:
  """The 64×64 patch statistics (claim48's images), in one line."""
  measured = {r["op"]: r for r in results.get("patch_stats_64", [])}
  ops = [op for op in ("cutmix", "resizemix", "saliencymix", "fmix") if op in measured]
  if not ops:
    return ""
  pct = lambda key: ", ".join(f"{op} {100 * measured[op][key]:.1f}%" for op in ops)
  return (f"patch_stats_64 (64×64): own object hidden: {pct('own_hidden')}; partner's object "
          f"absent: {pct('partner_absent')}<br>")


def occluding_patches(results) -> str:
  measured = {r["op"]: r for r in results.get("patch_stats", [])}
  text = "".join(
      f"{op}: own object hidden in {100 * measured[op]['own_hidden']:.1f}% of mixes, partner's "
      f"object absent from the patch in {100 * measured[op]['partner_absent']:.1f}%<br>"
      for op in ("cutmix", "resizemix", "saliencymix", "fmix") if op in measured)
  text += _patches_64(results)
  return text + "<br>".join(
      f"{named(results, s)}, top-1 error: " + _vs(
          by_method(results, s), [(m, "cutmix") for m in ("resizemix", "saliencymix", "fmix")],
          error, "lower", "higher") for s in _shapes_studies(results))

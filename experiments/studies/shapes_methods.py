"""The embedded shapes dataset: accuracy, localization and occlusion robustness per method.

Issue 8, items 3, 4 and 8 (the accuracy cost of patches that hide a small object). 10,000
training images of one small object on a textured background, every test image with its object
box, so class activation maps can be scored as weakly supervised localization (IoU ≥ 0.5).
Methods: baseline, Cutout, Mixup, CutMix, and CutMix's occlusion-aware successors ResizeMix,
SaliencyMix and FMix (does keeping the object in view remove the cost?). Small ResNet, 15 epochs,
3 seeds per method. Compute: ~150k images per run, ~5 min on an idle 2-core CPU, ~1.75 h.
"""

from experiments import studies
from experiments.studies import _common

SEEDS = (0, 1, 2)

STUDY = studies.Study(
    name="shapes_methods",
    question="Does CutMix localize objects better, and what does it cost when patches hide them?",
    # Seed-major: every method of seed 0 first, so a partial study already compares them.
    runs=[run for seed in SEEDS for method in _common.METHODS + _common.VARIANTS
          for run in studies.seeds(
              lambda m=method: _common.method_config(m, dataset="shapes", epochs=15),
              method, [seed], method=method)],
    analyze=_common.analyze_localization,
)

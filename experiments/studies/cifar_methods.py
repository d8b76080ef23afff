"""CIFAR-10 (JPEG re-encoded), 5,000 training images: baseline vs Cutout vs Mixup vs CutMix.

Answers the accuracy and calibration claims (issue 8, items 1–2) where a 2-core CPU can: a
class-balanced 5k subset of the training set (the same images for every run) so that the model
can overfit and a regularizer can matter, the small ResNet (0.08M parameters), 30 epochs,
3 seeds per method (same seed = same initialization and batch order). Evaluated on all 10,000
test images. Compute: about 150k training images per run, ~5 min on 2 cores, ~1 h in all.
"""

from experiments import studies
from experiments.studies import _common

SEEDS = (0, 1, 2)

STUDY = studies.Study(
    name="cifar_methods",
    question="Does CutMix beat baseline, Cutout and Mixup on a small CIFAR-10 training set?",
    # Seed-major: every method of seed 0 first, so a partial study already compares them.
    runs=[run for seed in SEEDS for method in _common.METHODS
          for run in studies.seeds(
              lambda m=method: _common.method_config(m, dataset="cifar10_jpeg", epochs=30,
                                                     train_size=5000),
              method, [seed], method=method)],
    analyze=_common.analyze_robustness,
)

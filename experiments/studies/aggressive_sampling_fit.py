"""Issue 19: the sampling-frequency arm of `aggressive_sampling` where the baseline fits.

The `cifar_methods_fit` regime (2.5k CIFAR-10 images, small ResNet at width 32, 60 epochs):
CutMix α = 1 at p = 1, and at p = 1 switched off for the last 10% of epochs (6 of 60), 3 seeds
each, against the shared p = 0.5 runs (`cifar_methods_fit`'s CutMix, same seeds).
"""

from experiments import studies
from experiments.studies import _common
from experiments.studies import cifar_methods_fit

SEEDS = (0, 1, 2)


def _runs():
  runs = []
  for seed in SEEDS:
    runs += studies.seeds(lambda: cifar_methods_fit.config("cutmix", mix_prob=1.0),
                          "alpha1/p1", [seed], method="cutmix", alpha=1.0, prob=1.0,
                          schedule="constant")
    runs += studies.seeds(lambda: cifar_methods_fit.config("cutmix", mix_prob=1.0,
                                                           mix_off_last_epochs=6.0),
                          "alpha1/p1/off_last6", [seed], method="cutmix", alpha=1.0, prob=1.0,
                          schedule="off for the last 6 epochs")
  return runs


STUDY = studies.Study(
    name="aggressive_sampling_fit",
    question="Where the baseline fits, does CutMix hurt when it mixes every batch?",
    runs=_runs(),
    analyze=_common.with_train_fit(_common.analyze_calibration),
)

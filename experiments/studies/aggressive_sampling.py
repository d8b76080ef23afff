"""When is CutMix's patch sampling too aggressive? α, probability, minmax boxes.

Issue 8, item 6, on the `cifar_methods` setting (CIFAR-10 JPEG, 5k class-balanced images, small
ResNet, 30 epochs): CutMix α ∈ {0.2, 0.5, 2} at prob 0.5 and prob ∈ {0.25, 1.0} at α = 1 (the
α = 1, prob 0.5 point and the baseline are `cifar_methods`' runs, same seeds), and timm's
`cutmix_minmax` = (0.2, 0.8), and prob 1 switched off for the last 5 of 30 epochs (hlb-CIFAR10's
remedy). 3 seeds each. Compute: ~5 min per run on an idle 2-core CPU, 21 runs, ~1.75 h.
"""

from experiments import studies
from experiments.studies import _common

SEEDS = (0, 1, 2)


def _config(**overrides):
  return _common.method_config("cutmix", dataset="cifar10_jpeg", epochs=30, train_size=5000,
                               **overrides)


def _runs():
  runs = []
  for seed in SEEDS:   # Seed-major: a partial study already has every setting once.
    one = [seed]
    for alpha in (0.2, 0.5, 2.0):
      runs += studies.seeds(lambda a=alpha: _config(cutmix_alpha=a), f"alpha{alpha:g}/p0.5",
                            one, method="cutmix", alpha=alpha, prob=0.5, schedule="constant")
    for prob in (0.25, 1.0):
      runs += studies.seeds(lambda p=prob: _config(mix_prob=p), f"alpha1/p{prob:g}", one,
                            method="cutmix", alpha=1.0, prob=prob, schedule="constant")
    runs += studies.seeds(lambda: _config(cutmix_minmax=(0.2, 0.8)), "minmax0.2-0.8/p0.5",
                          one, method="cutmix", alpha="minmax(0.2,0.8)", prob=0.5,
                          schedule="constant")
    runs += studies.seeds(lambda: _config(mix_prob=1.0, mix_off_last_epochs=5.0),
                          "alpha1/p1/off_last5", one, method="cutmix", alpha=1.0, prob=1.0,
                          schedule="off for the last 5 epochs")
  return runs


STUDY = studies.Study(
    name="aggressive_sampling",
    question="Does CutMix hurt when its patches are sampled too aggressively?",
    runs=_runs(),
    analyze=_common.analyze_calibration,
)

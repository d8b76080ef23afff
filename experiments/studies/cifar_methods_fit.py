"""CIFAR-10 (JPEG re-encoded), 2,500 training images, a model that fits them: issue 19's CPU regime.

`cifar_methods` uses the 0.08M-parameter small ResNet, which reaches only ~74% train accuracy
on 5k images, so every regularizer costs accuracy there. Here the same recipe (SGD + Nesterov,
cosine, wd 5e-4, crop + flip; the papers' per-method settings) trains the small ResNet at width
32 (0.3M parameters) on a class-balanced 2.5k subset for 60 epochs, so that the baseline fits
its training set: the regime's criterion is the final model's accuracy on its own 2.5k
training images, un-augmented (`analysis.train_fit`), >= 95%. The probe (baseline, seed 0,
2-core AMD EPYC) measured 95.2% there, and 94.1% running train accuracy (augmented) in the last
epochs. 4 methods x 3 seeds; same seed = same init and batch order.
Evaluated on all 10,000 test images. Compute: 150k training images per run.
"""

from experiments import studies
from experiments.studies import _common

SEEDS = (0, 1, 2)
# The regime, shared with aggressive_sampling_fit (whose p = 0.5 point is this study's CutMix).
REGIME = dict(dataset="cifar10_jpeg", epochs=60, train_size=2500,
              model_kwargs={"width": 32})


def config(method: str, **overrides):
  return _common.method_config(method, **REGIME, **overrides)


STUDY = studies.Study(
    name="cifar_methods_fit",
    question="Where the baseline fits 2.5k CIFAR-10 images, does CutMix beat baseline, Cutout "
             "and Mixup?",
    # Seed-major: the first run (baseline, seed 0) is the probe that shows the regime fits.
    runs=[run for seed in SEEDS for method in _common.METHODS
          for run in studies.seeds(lambda m=method: config(m), method, [seed], method=method)],
    analyze=_common.with_train_fit(_common.analyze_robustness),
)

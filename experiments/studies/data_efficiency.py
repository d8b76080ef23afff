"""Does CutMix's gain shrink as the training set grows, and is it smaller on more diverse data?

Issue 8, item 5. CIFAR-10 (JPEG re-encoded) class-balanced subsets of 2.5k, 10k and 50k images,
and Fashion-MNIST (grey, centred, low diversity) at 5k against CIFAR-10 at 5k (the baseline and
CutMix runs of `cifar_methods`, same recipe), baseline vs CutMix, 3 seeds each. To fit a 2-core
CPU every run trains for the same compute, 1,170 steps of 128 images (30 epochs of 5k), so a
larger set is seen for fewer epochs. Compute: ~5 min per run, 24 runs, ~2 h.
"""

from experiments import studies
from experiments.studies import _common

SEEDS = (0, 1, 2)
STEPS = 1170  # 30 epochs of 5,000 images at batch 128.


def _config(method, dataset, train_size):
  config = _common.method_config(method, dataset=dataset, epochs=30, train_size=train_size)
  config.num_train_steps = STEPS
  return config


def _runs():
  runs = []
  for seed in SEEDS:   # Seed-major: a partial study already has paired comparisons.
    for method in ("baseline", "cutmix"):
      for size in (2500, 10000, 50000):
        runs += studies.seeds(lambda m=method, s=size: _config(m, "cifar10_jpeg", s),
                              f"cifar10_{size}/{method}", [seed], method=method,
                              dataset="cifar10_jpeg", train_size=size)
      runs += studies.seeds(lambda m=method: _config(m, "fashion_mnist_idx", 5000),
                            f"fashion_mnist_5000/{method}", [seed], method=method,
                            dataset="fashion_mnist_idx", train_size=5000)
  return runs


STUDY = studies.Study(
    name="data_efficiency",
    question="Does CutMix's gain shrink with more data, and on less diverse data?",
    runs=_runs(),
    analyze=_common.analyze_calibration,
)

"""Issue 19, claim 5 where the baseline fits: does CutMix's gain shrink with more data, and is it
smaller on CIFAR-10 than on less diverse Fashion-MNIST?

The `cifar_methods_fit` regime (small ResNet at width 32, SGD + Nesterov, cosine, 60 epochs) at
a **fixed number of epochs** per size, so that size and passes are not confounded (the
underfitting `data_efficiency` fixes the step budget instead): CIFAR-10 (JPEG re-encoded)
class-balanced subsets of 1,250 images (here) and 2,500 (`cifar_methods_fit`'s baseline and
CutMix runs, same seeds), and Fashion-MNIST (grey, centred, low diversity) at 1,250 against
CIFAR-10 at 1,250. Baseline vs CutMix, 3 seeds; every baseline's final model is scored on its
own training images (`train_fit`). Compute: 75k training images per run, ~4-5 min on 2 cores.
The 5k-50k sizes of the issue are `python -m experiments.reference_plan claim5` (a GPU).

Measured (2026-12-03, 5 runs): at 1,250 images 60 epochs are 540 steps, and the baseline does
not fit (final train accuracy 93.9% and 92.2% on CIFAR-10, 93.0% on Fashion-MNIST), so this
arm was paused and `data_efficiency_steps` (one step budget, both sizes fit) runs first.
"""

from experiments import studies
from experiments.studies import _common
from experiments.studies import cifar_methods_fit

SEEDS = (0, 1, 2)
SIZE = 1250
DATASETS = {"cifar10": "cifar10_jpeg", "fashion_mnist": "fashion_mnist_idx"}


def _config(method: str, dataset: str, train_size: int):
  return _common.method_config(
      method, **{**cifar_methods_fit.REGIME, "dataset": dataset, "train_size": train_size})


def _runs():
  runs = []
  for seed in SEEDS:   # Seed-major: a partial study already has paired comparisons.
    for short, dataset in DATASETS.items():
      for method in ("baseline", "cutmix"):
        runs += studies.seeds(lambda m=method, d=dataset: _config(m, d, SIZE),
                              f"{short}_{SIZE}/{method}", [seed], method=method,
                              dataset=dataset, train_size=SIZE)
  return runs


STUDY = studies.Study(
    name="data_efficiency_fit",
    question="Where the baseline fits, does CutMix's gain shrink with more data (fixed epochs), "
             "and is it smaller on Fashion-MNIST?",
    runs=_runs(),
    analyze=_common.with_train_fit(_common.analyze_calibration),
)

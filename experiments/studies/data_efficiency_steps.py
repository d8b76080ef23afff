"""Issue 19, claim 5 where the baseline fits at every size: the step-budget arm.

`data_efficiency_fit` holds the epochs fixed (60), and its 1,250-image baseline then gets half
the steps of the 2,500-image one and does not fit (train accuracy 92-94% < 95%, 2 seeds). Here
every run takes the `cifar_methods_fit` budget, 1,140 steps of 128 images (60 epochs of 19
full batches of 2.5k; about 127 epochs of 1.25k), in which both sizes can fit: CIFAR-10 (JPEG re-encoded) at 1,250
images (here) and 2,500 (`cifar_methods_fit`'s baseline and CutMix runs, same seeds), then
Fashion-MNIST (grey, centred, low diversity) at 1,250 against CIFAR-10 at 1,250. Baseline vs
CutMix, 3 seeds, CIFAR-10 first. Compute: 146k images a run, ~9 min on 2 idle cores.
"""

from experiments import studies
from experiments.studies import _common
from experiments.studies import cifar_methods_fit

SEEDS = (0, 1, 2)
SIZE = 1250
STEPS = 1140   # cifar_methods_fit's: 60 epochs of 19 full batches of 128 (2,500 images).


def _config(method: str, dataset: str):
  config = _common.method_config(
      method, **{**cifar_methods_fit.REGIME, "dataset": dataset, "train_size": SIZE,
                 "epochs": 127})
  config.num_train_steps = STEPS
  return config


def _runs():
  runs = []
  for short, dataset in (("cifar10", "cifar10_jpeg"), ("fashion_mnist", "fashion_mnist_idx")):
    for seed in SEEDS:   # Seed-major within a dataset: partial results already pair.
      for method in ("baseline", "cutmix"):
        runs += studies.seeds(lambda m=method, d=dataset: _config(m, d),
                              f"{short}_{SIZE}/{method}", [seed], method=method,
                              dataset=dataset, train_size=SIZE)
  return runs


STUDY = studies.Study(
    name="data_efficiency_steps",
    question="Where the baseline fits at every size (one step budget), does CutMix's gain "
             "shrink with more data, and is it smaller on Fashion-MNIST?",
    runs=_runs(),
    analyze=_common.with_train_fit(_common.analyze_calibration),
)

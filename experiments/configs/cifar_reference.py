"""The reference-scale CIFAR-10 study (experiments/cifar_reference.py) as a config: 12 models
(4 methods x 3 seeds) stacked on one accelerator, the trainer's stacked mode.

  python -m experiments.main --config experiments/configs/cifar_reference.py \
      --config.archive=../shared/data/cifar10-jpeg.tar.gz --config.epochs=15 --workdir OUT

Each field is the `python -m experiments.cifar_reference` flag of the same name (0 / empty: the
flag's default); --workdir is where the result JSONs go. Exactly one of epochs / budget_s > 0.
"""

import ml_collections

from experiments.configs import cifar


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.execution = "stacked"   # N models at once (experiments/train/stacked.py).
  config.archive = ""            # cifar10-jpeg.tar.gz (or its folder); required.
  config.epochs = 0              # epochs per model ...
  config.budget_s = 0.0          # ... or the most whole epochs that fit this many seconds.
  config.max_epochs = 200
  config.seeds = (0, 1, 2)
  config.methods = cifar.METHODS
  config.batch_size = 256
  config.learning_rate = 0.2     # peak; 0.1 per 128 images as in the CPU studies.
  config.train_size = 0          # 0: all training images.
  config.width = 64              # ResNet base width (64: the reference).
  config.stacking = "auto"       # vmap | scan | auto (the faster after 20 steps each).
  config.test_size = 0           # 0: all test images.
  config.name = "cifar_reference"
  config.code_commit = ""        # recorded instead of the host's git HEAD (a stale .git).
  return config

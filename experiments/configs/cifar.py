"""Shared recipe for the CIFAR-10/100 ResNet-18 tables (one recipe, four regularizers).

200 epochs of SGD + Nesterov (lr 0.1, batch 128, weight decay 5e-4, cosine), the common
ResNet-18 recipe of the CutMix/Cutout follow-ups, so that only `mix` differs per row:
  baseline  no mixing
  cutout    16x16 holes on CIFAR-10, 8x8 on CIFAR-100 (DeVries & Taylor 2017)
  mixup     α = 1 (Zhang et al. 2018)
  cutmix    α = 1, applied to a batch with probability 0.5 (Yun et al. 2019, CIFAR setting)
"""

from experiments.configs import default

_DATASETS = {"cifar10": "cifar10_jpeg", "cifar100": "cifar100"}


def get_cifar_config(dataset: str, method: str):
  config = default.get_config()
  config.dataset = _DATASETS[dataset]
  config.model = "resnet18"
  config.mix = method if method != "baseline" else "none"
  if method == "cutout":
    config.cutout_size = 16 if dataset == "cifar10" else 8
  if method == "mixup":
    config.mixup_alpha = 1.0
  if method == "cutmix":
    config.cutmix_alpha = 1.0
    config.mix_prob = 0.5
  return config

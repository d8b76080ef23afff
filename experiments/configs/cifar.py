r"""CIFAR-10/100 with one regularizer each: the method → config map every CIFAR run uses.

  python -m experiments.main --config experiments/configs/cifar.py:cifar10,cutmix --workdir W

`get_config("DATASET,METHOD")` (DATASET: cifar10 | cifar100; METHOD: baseline | cutout | mixup |
cutmix, or a variant of `VARIANTS`) is 200 epochs of SGD + Nesterov (lr 0.1, batch 128, weight
decay 5e-4, cosine) on ResNet-18, the common recipe of the CutMix/Cutout follow-ups, so that only
the method differs per row. `set_method` is the map itself (the studies' recipes use it too):
  baseline  no mixing
  cutout    16x16 holes on CIFAR-10, 8x8 on CIFAR-100 (DeVries & Taylor 2017)
  mixup     α = 1 (Zhang et al. 2018)
  cutmix    α = 1, applied to a batch with probability 0.5 (Yun et al. 2019, CIFAR setting)
  resizemix / saliencymix / fmix   CutMix's successors with CutMix's setting (α = 1, p = 0.5)
"""

from experiments.configs import default

METHODS = ("baseline", "cutout", "mixup", "cutmix")
# CutMix's occlusion-aware successors, with CutMix's CIFAR setting (α = 1, half of the batches).
VARIANTS = ("resizemix", "saliencymix", "fmix")
_DATASETS = {"cifar10": "cifar10_jpeg", "cifar100": "cifar100"}


def set_method(config, method: str, *, cutout_size: int = 16):
  """Sets the fields of one regularizer, with the papers' CIFAR settings; returns config."""
  if method == "baseline":
    config.mix = "none"
  elif method == "cutout":
    config.mix, config.cutout_size = "cutout", cutout_size
  elif method == "mixup":
    config.mix, config.mixup_alpha = "mixup", 1.0
  elif method == "cutmix":
    config.mix, config.cutmix_alpha, config.mix_prob = "cutmix", 1.0, 0.5
  elif method in VARIANTS:
    config.mix, config.mix_prob = method, 0.5
    if method != "resizemix":   # ResizeMix draws its scale from U(0.1, 0.8), no α.
      config.mix_kwargs.alpha = 1.0
  else:
    raise ValueError(f"method must be one of {METHODS + VARIANTS}, got {method!r}")
  return config


def get_config(arg: str = "cifar10,baseline"):
  dataset, _, method = arg.partition(",")
  if dataset not in _DATASETS or not method:
    raise ValueError(f"the config argument must be 'DATASET,METHOD' with DATASET one of "
                     f"{sorted(_DATASETS)}, got {arg!r}")
  config = default.get_config()
  config.dataset = _DATASETS[dataset]
  config.model = "resnet18"
  return set_method(config, method, cutout_size=16 if dataset == "cifar10" else 8)

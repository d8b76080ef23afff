"""cifar100 ResNet-18, cutmix (see cifar.py for the shared recipe)."""

from experiments.configs import cifar


def get_config():
  return cifar.get_cifar_config("cifar100", "cutmix")

"""cifar10 ResNet-18, cutout (see cifar.py for the shared recipe)."""

from experiments.configs import cifar


def get_config():
  return cifar.get_cifar_config("cifar10", "cutout")

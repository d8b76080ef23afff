"""Dataset builders of the experiments, all preparable and readable without TensorFlow."""

from experiments.data.datasets._base import prepare
from experiments.data.datasets.fashion_mnist_idx import FashionMnistIdx
from experiments.data.datasets.image_folder import Cifar10Jpeg
from experiments.data.datasets.image_folder import image_folder_builder
from experiments.data.datasets.image_folder import read_image_folder
from experiments.data.datasets.shapes_builder import JaxmixShapes

__all__ = ("prepare", "FashionMnistIdx", "Cifar10Jpeg", "image_folder_builder",
           "read_image_folder", "JaxmixShapes")

r"""Prepares a dataset into TFDS array_record format under a data_dir, without TensorFlow.

  python -m experiments.prepare_data --dataset shapes
  python -m experiments.prepare_data --dataset cifar10_jpeg --data_dir ~/tensorflow_datasets \
      [--source ../shared/data/cifar10-jpeg.tar.gz]
  python -m experiments.prepare_data --dataset fashion_mnist_idx [--source ../shared/data/fashion-mnist]
  python -m experiments.prepare_data --dataset image_folder --name my_data --source DIR_OR_TAR

`image_folder` reads any split/class/image layout (a folder or .tar[.gz]); the result is then
trainable by its name like any other dataset (`--config.dataset=my_data`, with the same data_dir).
"""

from __future__ import annotations

import argparse
import logging
import time

from experiments.data import registry
from experiments.data import pipeline

CHOICES = registry.BUILTIN + ("image_folder",)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
  parser.add_argument("--dataset", required=True, choices=CHOICES)
  parser.add_argument("--data_dir", default=None,
                      help="default: $JAXMIX_DATA_DIR, else ~/tensorflow_datasets")
  parser.add_argument("--source", default=None,
                      help="archive or folder to prepare from (default: in ../shared/data or "
                           "$JAXMIX_SHARED_DATA)")
  parser.add_argument("--name", default=None, help="dataset name for --dataset image_folder")
  parser.add_argument("--grayscale", action="store_true", help="image_folder: store 1 channel")
  args = parser.parse_args(argv)
  logging.getLogger("absl").setLevel(logging.ERROR)
  data_dir = pipeline.default_data_dir(args.data_dir)
  start = time.perf_counter()
  try:
    if args.dataset == "image_folder":
      if not args.name or not args.source:
        parser.error("--dataset image_folder needs --name and --source")
      _prepare_image_folder(args.name, args.source, data_dir, args.grayscale)
      name = args.name
    else:
      pipeline.prepare(args.dataset, data_dir, source=args.source)
      name = args.dataset
    info = pipeline.get_info(name, data_dir)
  except (ValueError, FileNotFoundError) as e:
    parser.exit(2, f"error: {e}\n")
  print(f"{info}\nprepared in {data_dir} ({time.perf_counter() - start:.1f} s); train on it with "
        f"--config.dataset={name}" + (f" --config.data_dir={data_dir}" if args.data_dir else ""))


def _prepare_image_folder(name: str, source: str, data_dir: str, grayscale: bool) -> None:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from experiments.data import datasets  # pylint: disable=g-import-not-at-top
  registry.check_new_name(name)
  tfds.disable_progress_bar()
  datasets.prepare(datasets.image_folder_builder(name, source, data_dir=data_dir,
                                                 mode="L" if grayscale else "RGB"))


if __name__ == "__main__":
  main()

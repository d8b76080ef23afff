"""Tests of experiments/data/datasets: the shapes generator, the TFDS builders and prepare_data."""

import gzip
import io
import os
import pathlib
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from experiments.data import datasets
from experiments.data import pipeline as ip
from experiments import prepare_data
from experiments.data.datasets import fashion_mnist_idx
from experiments.data.datasets import image_folder
from experiments.data import shapes

tfds.disable_progress_bar()
CIFAR_ARCHIVE = ip.shared_data_dir() / "cifar10-jpeg.tar.gz"
FASHION_DIR = ip.shared_data_dir() / "fashion-mnist"
needs_cifar = pytest.mark.skipif(not CIFAR_ARCHIVE.exists(),
                                 reason=f"{CIFAR_ARCHIVE} not present")
needs_fashion = pytest.mark.skipif(not FASHION_DIR.exists(), reason=f"{FASHION_DIR} not present")


@pytest.fixture(scope="module")
def generated():
  return shapes.generate(3000, seed=0, split="train")


# ------------------------------------------------------------------------------------ shapes


def test_shapes_arrays(generated):
  assert generated["image"].shape == (3000, 32, 32, 3) and generated["image"].dtype == np.uint8
  assert generated["label"].shape == (3000,)
  assert generated["box"].shape == (3000, 4) and generated["box"].dtype == np.int32
  assert generated["object_mask"].shape == (3000, 32, 32)
  assert generated["object_mask"].dtype == np.uint8
  assert set(np.unique(generated["object_mask"])) == {0, 1}


def test_shapes_labels_in_range_and_balanced(generated):
  labels = generated["label"]
  assert labels.min() >= 0 and labels.max() < shapes.NUM_CLASSES
  np.testing.assert_array_equal(np.bincount(labels, minlength=10), np.full(10, 300))
  assert len(shapes.CLASS_NAMES) == shapes.NUM_CLASSES == 10


def test_shapes_boxes_tightly_bound_nonempty_masks(generated):
  masks, boxes = generated["object_mask"].astype(bool), generated["box"]
  areas = masks.sum(axis=(1, 2))
  assert areas.min() >= 20  # Every object is clearly visible.
  for mask, (y1, x1, y2, x2) in zip(masks, boxes):
    assert 0 <= y1 < y2 <= 32 and 0 <= x1 < x2 <= 32
    assert mask[y1:y2, x1:x2].sum() == mask.sum()  # Bounds the whole mask ...
    # ... tightly: every edge row/column of the box touches the mask.
    assert mask[y1].any() and mask[y2 - 1].any() and mask[:, x1].any() and mask[:, x2 - 1].any()


def test_shapes_object_pixels_differ_from_background(generated):
  images = generated["image"].astype(np.float64)
  masks = generated["object_mask"].astype(bool)
  for image, mask in zip(images[:200], masks[:200]):
    inside, outside = image[mask].mean(0), image[~mask].mean(0)
    assert np.abs(inside - outside).sum() > 30


def test_shapes_is_not_trivial(generated):
  # The colour says nothing about the class: per-class mean colours are all close.
  images, labels = generated["image"].astype(np.float64), generated["label"]
  class_means = np.stack([images[labels == c].mean(axis=(0, 1, 2)) for c in range(10)])
  assert np.ptp(class_means, axis=0).max() < 20
  # Backgrounds are noisy: neighbouring pixels differ.
  assert np.abs(np.diff(images, axis=2)).mean() > 8


def test_shapes_deterministic():
  a, b = shapes.generate(50, seed=7), shapes.generate(50, seed=7)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  c = shapes.generate(50, seed=8)
  assert not np.array_equal(a["image"], c["image"])
  d = shapes.generate(50, seed=7, split="test")
  assert not np.array_equal(a["image"], d["image"])


def test_shapes_other_splits_are_the_same_in_every_process():
  # Python salts str hashes per process (PYTHONHASHSEED): a split's stream must not use hash().
  code = ("import hashlib; from experiments.data import shapes; "
          "print(hashlib.sha256(shapes.generate(20, split='extra')['image'].tobytes()).hexdigest())")
  root = pathlib.Path(__file__).resolve().parents[3]
  digests = set()
  for hash_seed in ("1", "2"):
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, timeout=120, check=True,
                            env={**os.environ, "PYTHONHASHSEED": hash_seed})
    digests.add(result.stdout.strip())
  assert len(digests) == 1
  extra = shapes.generate(20, split="extra")["image"]
  for named in ("train", "test", "validation"):  # A stream of its own.
    assert not np.array_equal(extra, shapes.generate(20, split=named)["image"])


def test_shapes_bad_arguments():
  with pytest.raises(ValueError, match="num_examples must be >= 0"):
    shapes.generate(-1)
  with pytest.raises(ValueError, match="label must be in"):
    shapes._shape_masks(10, np.zeros(1), np.zeros(1), np.ones(1))


class _TinyShapes(datasets.JaxmixShapes, skip_registration=True):
  name = "jaxmix_shapes_tiny"
  SPLITS = {"train": 120, "test": 30}


def test_shapes_builder_round_trip(tmp_path):
  builder = datasets.prepare(_TinyShapes(data_dir=str(tmp_path)))
  assert builder.is_prepared()
  assert str(builder.info.file_format).endswith(("array_record", "ARRAY_RECORD"))
  assert builder.info.features["label"].names == list(shapes.CLASS_NAMES)
  sources = builder.as_data_source()
  for split, n in _TinyShapes.SPLITS.items():
    assert len(sources[split]) == n
    stored = sources[split].__getitems__(list(range(n)))
    expected = shapes.generate(n, seed=0, split=split)
    for k, v in expected.items():  # Stored in generation order, bit for bit.
      np.testing.assert_array_equal(np.stack([e[k] for e in stored]), v)
  # Preparing again is a no-op, and a fresh builder reads the same data.
  datasets.prepare(_TinyShapes(data_dir=str(tmp_path)))
  assert len(tfds.builder_from_directory(builder.data_dir).as_data_source()["test"]) == 30


# ------------------------------------------------------------------------------ image folders


def _write_folder(root: pathlib.Path, counts: dict, size=(8, 6), mode="RGB"):
  rng = np.random.default_rng(0)
  expected = {}
  for split, per_class in counts.items():
    for label, cls in enumerate(("ant", "bee", "cow")):
      for i in range(per_class):
        shape = size + ((3,) if mode == "RGB" else ())
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        path = root / split / cls / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        expected.setdefault(split, []).append((pixels, label))
  return expected


@pytest.mark.parametrize("as_tar", [False, True])
def test_read_image_folder(tmp_path, as_tar):
  expected = _write_folder(tmp_path / "folder", {"train": 3, "test": 2})
  source = tmp_path / "folder"
  if as_tar:
    source = tmp_path / "folder.tar.gz"
    with tarfile.open(source, "w:gz") as tar:
      tar.add(tmp_path / "folder", arcname=".")
  splits, class_names = datasets.read_image_folder(source)
  assert class_names == ("ant", "bee", "cow")
  for split, items in expected.items():
    assert splits[split]["image"].shape == (len(items), 8, 6, 3)
    np.testing.assert_array_equal(splits[split]["image"], np.stack([p for p, _ in items]))
    np.testing.assert_array_equal(splits[split]["label"], [label for _, label in items])


def test_read_image_folder_errors(tmp_path):
  with pytest.raises(FileNotFoundError):
    datasets.read_image_folder(tmp_path / "missing")
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="no images"):
    datasets.read_image_folder(tmp_path / "empty")
  _write_folder(tmp_path / "mixed", {"train": 1})
  Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "mixed/train/ant/big.png")
  with pytest.raises(ValueError, match="differ in size"):
    datasets.read_image_folder(tmp_path / "mixed")


def test_prepare_data_cli_image_folder(tmp_path, capsys):
  expected = _write_folder(tmp_path / "gray", {"train": 2, "test": 1}, mode="L")
  prepare_data.main(["--dataset", "image_folder", "--name", "gray_things",
                     "--source", str(tmp_path / "gray"), "--data_dir", str(tmp_path / "tfds"),
                     "--grayscale"])
  assert "gray_things" in capsys.readouterr().out
  builder = tfds.builder_from_directory(str(tmp_path / "tfds/gray_things/1.0.0"))
  assert builder.info.features["label"].names == ["ant", "bee", "cow"]
  test = builder.as_data_source()["test"]
  stored = test.__getitems__(list(range(len(test))))
  np.testing.assert_array_equal(np.stack([e["image"][..., 0] for e in stored]),
                                np.stack([p for p, _ in expected["test"]]))


def test_image_folder_is_trainable_by_name(tmp_path, capsys):
  expected = _write_folder(tmp_path / "pics", {"train": 4, "test": 3})
  data_dir = str(tmp_path / "tfds")
  with pytest.raises(ValueError, match="unknown dataset 'my_data'.*none yet.*image_folder"):
    ip.get_info("my_data", data_dir)
  prepare_data.main(["--dataset", "image_folder", "--name", "my_data",
                     "--source", str(tmp_path / "pics"), "--data_dir", data_dir])
  assert "--config.dataset=my_data" in capsys.readouterr().out
  info = ip.get_info("my_data", data_dir)
  assert info.image_shape == (8, 6, 3) and info.class_names == ("ant", "bee", "cow")
  assert (info.num_train, info.num_eval, info.num_classes) == (12, 9, 3)
  train = np.stack([p for p, _ in expected["train"]]).astype(np.float64)
  np.testing.assert_allclose(info.mean, train.mean(axis=(0, 1, 2)), rtol=1e-6)
  batch = next(ip.train_batches("my_data", batch_size=6, seed=0, data_dir=data_dir))
  assert batch["image"].shape == (6, 8, 6, 3) and batch["image"].dtype == np.uint8
  batches = list(ip.eval_batches("my_data", batch_size=4, data_dir=data_dir))
  images = np.concatenate([b["image"][b["mask"]] for b in batches])
  np.testing.assert_array_equal(images, np.stack([p for p, _ in expected["test"]]))
  with pytest.raises(ValueError, match="unknown dataset 'my_dat'.*my_data"):
    ip.get_info("my_dat", data_dir)


@pytest.mark.parametrize("name", ["shapes", "cifar10", "My Data"])
def test_prepare_data_refuses_taken_or_bad_names(tmp_path, capsys, name):
  _write_folder(tmp_path / "pics", {"train": 1})
  with pytest.raises(SystemExit) as e:
    prepare_data.main(["--dataset", "image_folder", "--name", name, "--source",
                       str(tmp_path / "pics"), "--data_dir", str(tmp_path / "tfds")])
  assert e.value.code == 2 and "name" in capsys.readouterr().err


def test_prepare_data_missing_source_is_one_error_line(tmp_path, capsys, monkeypatch):
  monkeypatch.setenv("JAXMIX_SHARED_DATA", "/nonexistent")
  with pytest.raises(SystemExit) as e:
    prepare_data.main(["--dataset", "cifar10_jpeg", "--data_dir", str(tmp_path)])
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.startswith("error: cifar10_jpeg is not prepared")
  assert err.count("\n") == 1


@pytest.fixture(scope="module")
def tiny_cifar_tar(tmp_path_factory):
  """A tar.gz with the first 3 images of every class of each split of the real archive."""
  if not CIFAR_ARCHIVE.exists():
    pytest.skip(f"{CIFAR_ARCHIVE} not present")
  root = tmp_path_factory.mktemp("tiny_cifar")
  path = root / "cifar10-jpeg.tar.gz"
  kept = {}
  with tarfile.open(CIFAR_ARCHIVE, "r:gz") as src, tarfile.open(path, "w:gz") as dst:
    for member in src:
      parts = member.name.split("/")
      if member.isfile() and len(parts) == 3:
        key = (parts[0], parts[1])
        if kept.setdefault(key, 0) < 3:
          kept[key] += 1
          dst.addfile(member, src.extractfile(member))
  assert len(kept) == 20
  return path


@needs_cifar
def test_cifar10_jpeg_prepare_from_tiny_tar(tiny_cifar_tar, tmp_path):
  builder = datasets.prepare(datasets.Cifar10Jpeg(data_dir=str(tmp_path), source=tiny_cifar_tar))
  assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 30, "test": 30}
  train = builder.as_data_source()["train"]
  stored = train.__getitems__(list(range(30)))
  # Decoded once with Pillow: identical to decoding the JPEG bytes directly.
  with tarfile.open(tiny_cifar_tar, "r:gz") as tar:
    first_bird = tar.extractfile("train/bird/0000.jpg").read()
  decoded = np.asarray(Image.open(io.BytesIO(first_bird)).convert("RGB"))
  assert stored[6]["label"] == image_folder.CIFAR10_CLASS_NAMES.index("bird") == 2
  np.testing.assert_array_equal(stored[6]["image"], decoded)
  assert [e["label"] for e in stored] == [c for c in range(10) for _ in range(3)]


@needs_cifar
def test_cifar10_jpeg_auto_prepares_through_pipeline(tiny_cifar_tar, tmp_path, monkeypatch):
  monkeypatch.setenv("JAXMIX_SHARED_DATA", str(tiny_cifar_tar.parent))
  info = ip.get_info("cifar10_jpeg", str(tmp_path))
  assert (info.num_train, info.num_eval, info.num_classes) == (30, 30, 10)
  assert info.class_names == image_folder.CIFAR10_CLASS_NAMES
  batch = next(ip.train_batches("cifar10_jpeg", batch_size=8, seed=0, data_dir=str(tmp_path)))
  assert batch["image"].shape == (8, 32, 32, 3) and batch["image"].dtype == np.uint8
  batches = list(ip.eval_batches("cifar10_jpeg", batch_size=16, data_dir=str(tmp_path)))
  assert [b["mask"].sum() for b in batches] == [16, 14]
  assert "box" not in batches[0]


@needs_cifar
def test_real_cifar_archive_has_50000_train_10000_test():
  counts = {}
  with tarfile.open(CIFAR_ARCHIVE, "r:gz") as tar:
    for member in tar:
      parts = member.name.split("/")
      if member.isfile() and len(parts) == 3:
        counts[parts[0]] = counts.get(parts[0], 0) + 1
        assert parts[1] in image_folder.CIFAR10_CLASS_NAMES
  assert counts == {"train": 50_000, "test": 10_000}


@needs_cifar
@pytest.mark.slow
def test_real_cifar_prepare_full(tmp_path):
  info = ip.get_info("cifar10_jpeg", str(tmp_path))
  assert (info.num_train, info.num_eval) == (50_000, 10_000)
  np.testing.assert_allclose(info.mean, (125.3, 123.0, 113.9), atol=1.0)
  labels = ip.load_split_arrays("cifar10_jpeg", "train", str(tmp_path))["label"]
  np.testing.assert_array_equal(np.bincount(labels), np.full(10, 5000))


# ------------------------------------------------------------------------------ Fashion-MNIST


def _write_idx(path, array):
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_from_tiny_files(tmp_path):
  rng = np.random.default_rng(0)
  source = tmp_path / "fm"
  source.mkdir()
  arrays = {}
  for split, n in (("train", 20), ("test", 10)):
    images_file, labels_file = fashion_mnist_idx.FILES[split]
    arrays[split] = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                     rng.integers(0, 10, n, dtype=np.uint8))
    _write_idx(source / images_file, arrays[split][0])
    _write_idx(source / labels_file, arrays[split][1])
  data_dir = str(tmp_path / "tfds")
  prepare_data.main(["--dataset", "fashion_mnist_idx", "--source", str(source),
                     "--data_dir", data_dir])
  info = ip.get_info("fashion_mnist_idx", data_dir)
  assert info.image_shape == (28, 28, 1) and (info.num_train, info.num_eval) == (20, 10)
  test = ip.load_split_arrays("fashion_mnist_idx", "test", data_dir)
  np.testing.assert_array_equal(test["image"][..., 0], arrays["test"][0])
  np.testing.assert_array_equal(test["label"], arrays["test"][1])
  batch = next(ip.train_batches("fashion_mnist_idx", batch_size=4, seed=0, data_dir=data_dir))
  assert batch["image"].shape == (4, 28, 28, 1)


@needs_fashion
def test_real_fashion_mnist_has_one_channel(tmp_path):
  info = ip.get_info("fashion_mnist_idx", str(tmp_path))
  assert info.image_shape == (28, 28, 1) and len(info.mean) == len(info.std) == 1
  assert (info.num_train, info.num_eval) == (60_000, 10_000)
  batch = next(ip.train_batches("fashion_mnist_idx", batch_size=8, seed=0, data_dir=str(tmp_path)))
  assert batch["image"].shape == (8, 28, 28, 1)


@needs_fashion
def test_real_fashion_mnist_labels():
  labels = fashion_mnist_idx.read_idx(FASHION_DIR / "t10k-labels-idx1-ubyte.gz")
  np.testing.assert_array_equal(np.bincount(labels), np.full(10, 1000))
  train = fashion_mnist_idx.read_idx(FASHION_DIR / "train-labels-idx1-ubyte.gz")
  assert train.shape == (60_000,)


def test_read_idx_rejects_other_files(tmp_path):
  path = tmp_path / "bad.gz"
  with gzip.open(path, "wb") as f:
    f.write(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0\0\0\0")
  with pytest.raises(ValueError, match="not a uint8 idx file"):
    fashion_mnist_idx.read_idx(path)

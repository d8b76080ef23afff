"""Tests of experiments/input_pipeline.py on the embedded shapes dataset (prepared once, in tmp)."""

import itertools
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from experiments import input_pipeline as ip

BATCH = 256  # 10,000 / 256: epoch 0 ends inside step 39.


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  ip.get_info("shapes", data_dir)  # Prepares on first use.
  return data_dir


def _take(iterator, n):
  return list(itertools.islice(iterator, n))


def _train(data_dir, **kwargs):
  kwargs.setdefault("batch_size", BATCH)
  kwargs.setdefault("seed", 0)
  return ip.train_batches("shapes", data_dir=data_dir, **kwargs)


def _assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


def test_info(data_dir):
  info = ip.get_info("shapes", data_dir)
  assert info.name == "shapes"
  assert info.num_classes == len(info.class_names) == 10
  assert info.image_shape == (32, 32, 3)
  assert (info.num_train, info.num_eval) == (10_000, 2_000)
  images = ip.load_split_arrays("shapes", "train", data_dir)["image"].astype(np.float64)
  np.testing.assert_allclose(info.mean, images.mean(axis=(0, 1, 2)), rtol=1e-6)
  np.testing.assert_allclose(info.std, images.std(axis=(0, 1, 2)), rtol=1e-6)


def test_train_batch_format(data_dir):
  batch = next(_train(data_dir, batch_size=64))
  assert set(batch) == {"image", "label"}
  assert batch["image"].dtype == np.uint8 and batch["image"].shape == (64, 32, 32, 3)
  assert batch["label"].dtype == np.int32 and batch["label"].shape == (64,)
  assert batch["label"].min() >= 0 and batch["label"].max() < 10


@pytest.mark.parametrize("prefetch", [0, 2])
def test_same_seed_same_batches(data_dir, prefetch):
  _assert_batches_equal(_take(_train(data_dir, prefetch=prefetch), 3),
                        _take(_train(data_dir, prefetch=0), 3))


def test_different_seed_different_batches(data_dir):
  a, b = next(_train(data_dir, seed=0)), next(_train(data_dir, seed=1))
  assert not np.array_equal(a["label"], b["label"])
  assert not np.array_equal(a["image"], b["image"])
  # Steps differ from one another too (the shuffle does not repeat batch to batch).
  c, d = _take(_train(data_dir, seed=0), 2)
  assert not np.array_equal(c["image"], d["image"])


@pytest.mark.parametrize("augment", [False, True])
def test_resume_equals_uninterrupted(data_dir, augment):
  fresh = _take(_train(data_dir, augment=augment), 42)  # Crosses the end of epoch 0 (step 39).
  for start in (1, 38, 39, 40):
    resumed = _take(_train(data_dir, augment=augment, start_step=start), 42 - start)
    _assert_batches_equal(resumed, fresh[start:])


def test_each_epoch_is_a_permutation():
  n, batch = 1000, 96
  order = ip._EpochOrder(n, seed=3)
  stream = np.concatenate([order.batch(s, batch) for s in range(3 * n // batch + 1)])
  epochs = [stream[i * n:(i + 1) * n] for i in range(3)]
  for epoch in epochs:
    np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
  # Reshuffled every epoch.
  assert not np.array_equal(epochs[0], epochs[1])
  assert not np.array_equal(epochs[1], epochs[2])


@pytest.mark.parametrize("augment", [False, True])
def test_process_slices_partition_the_global_batch(data_dir, augment):
  whole = _take(_train(data_dir, augment=augment), 2)
  parts = [_take(_train(data_dir, augment=augment, process_index=p, process_count=2), 2)
           for p in range(2)]
  for step in range(2):
    a, b = parts[0][step], parts[1][step]
    assert a["image"].shape == (BATCH // 2, 32, 32, 3)
    for k in ("image", "label"):
      np.testing.assert_array_equal(np.concatenate([a[k], b[k]]), whole[step][k])
    if not augment:  # The two processes see different examples.
      seen_a = {im.tobytes() for im in a["image"]}
      assert not seen_a & {im.tobytes() for im in b["image"]}


def _reference_crop_and_flip(images, offsets, flips, pad, padding):
  mode = "constant" if padding == "zeros" else "reflect"
  out = []
  for image, (oy, ox), flip in zip(images, offsets, flips):
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode=mode)
    window = padded[oy:oy + image.shape[0], ox:ox + image.shape[1]]
    out.append(window[:, ::-1] if flip else window)
  return np.stack(out)


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
@pytest.mark.parametrize("pad", [1, 4])
def test_crop_and_flip_matches_reference(padding, pad):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(16, 8, 6, 3), dtype=np.uint8)
  offsets, flips = ip.sample_crop_and_flip(rng, 16, pad=pad)
  out = ip.crop_and_flip(images, offsets, flips, pad=pad, padding=padding)
  assert out.dtype == np.uint8
  np.testing.assert_array_equal(out, _reference_crop_and_flip(images, offsets, flips, pad,
                                                              padding))


def test_crop_and_flip_edge_cases():
  images = np.arange(2 * 4 * 4 * 1, dtype=np.uint8).reshape(2, 4, 4, 1)
  centre = np.array([[2, 2], [2, 2]])
  # Centred, unflipped crop is the identity; a flip mirrors the columns.
  np.testing.assert_array_equal(ip.crop_and_flip(images, centre, [False, False], pad=2), images)
  np.testing.assert_array_equal(ip.crop_and_flip(images, centre, [True, True], pad=2),
                                images[:, :, ::-1])
  # Shifted by the full padding: the first rows/columns are the zero border.
  corner = ip.crop_and_flip(images, np.array([[0, 0], [4, 4]]), [False, False], pad=2)
  np.testing.assert_array_equal(corner[0, 2:, 2:], images[0, :2, :2])
  assert not corner[0, :2].any() and not corner[0, :, :2].any()
  np.testing.assert_array_equal(corner[1, :2, :2], images[1, 2:, 2:])
  with pytest.raises(ValueError, match="padding"):
    ip.crop_and_flip(images, centre, [False, False], padding="edge")


def test_augmented_batch_is_a_shifted_window_of_the_plain_batch(data_dir):
  plain = next(_train(data_dir, augment=False, batch_size=64))["image"]
  aug = next(_train(data_dir, augment=True, batch_size=64))["image"]
  flipped = 0
  for x, y in zip(plain, aug):
    padded = np.pad(x, ((4, 4), (4, 4), (0, 0)))
    matches = [(oy, ox, flip) for oy in range(9) for ox in range(9) for flip in (False, True)
               if np.array_equal(y, padded[oy:oy + 32, ox:ox + 32][:, ::-1 if flip else 1])]
    assert matches, "augmented image is not a window of the padded image"
    flipped += all(flip for _, _, flip in matches)
  assert 10 < flipped < 54  # About half are mirrored.


@pytest.mark.parametrize("process_count", [1, 2])
def test_eval_padding_and_mask(data_dir, process_count):
  arrays = ip.load_split_arrays("shapes", "test", data_dir)
  batch_size = 600  # 2,000 = 3 * 600 + 200: the last batch is padded.
  per_process = [list(ip.eval_batches("shapes", batch_size=batch_size, data_dir=data_dir,
                                      process_index=p, process_count=process_count))
                 for p in range(process_count)]
  b = batch_size // process_count
  for batches in per_process:
    assert len(batches) == 4
    for batch in batches:
      assert set(batch) == {"image", "label", "mask", "box", "object_mask"}
      assert batch["image"].shape == (b, 32, 32, 3) and batch["image"].dtype == np.uint8
      assert batch["mask"].dtype == bool and batch["box"].dtype == np.int32
      assert batch["object_mask"].shape == (b, 32, 32)
      assert not batch["image"][~batch["mask"]].any()  # Padding is zeros.
  # In order: interleaving the processes' slices batch by batch gives the split back.
  merged = {k: np.concatenate([per_process[p][i][k] for i in range(4)
                               for p in range(process_count)])
            for k in ("image", "label", "box", "object_mask", "mask")}
  assert merged["mask"].sum() == 2000 and merged["mask"][:2000].all()
  for k in ("image", "label", "box", "object_mask"):
    np.testing.assert_array_equal(merged[k][merged["mask"]], arrays[k])


def test_load_split_arrays(data_dir):
  arrays = ip.load_split_arrays("shapes", "test", data_dir)
  assert arrays["image"].shape == (2000, 32, 32, 3)
  assert arrays["label"].dtype == np.int32 and arrays["box"].shape == (2000, 4)
  assert arrays["object_mask"].shape == (2000, 32, 32)
  with pytest.raises(ValueError):
    arrays["image"][0, 0, 0, 0] = 1  # The cached arrays are read-only.


def test_prefetch_stops_its_thread_when_closed(data_dir):
  before = threading.active_count()
  it = _train(data_dir, prefetch=3)
  next(it)
  assert threading.active_count() == before + 1
  it.close()
  deadline = time.time() + 5
  while threading.active_count() > before and time.time() < deadline:
    time.sleep(0.02)
  assert threading.active_count() == before


def test_prefetch_reraises_errors():
  def failing():
    yield 1
    raise RuntimeError("boom")
  it = ip._prefetch(failing, 2)
  assert next(it) == 1
  with pytest.raises(RuntimeError, match="boom"):
    next(it)


def test_bad_arguments(data_dir):
  with pytest.raises(ValueError, match="dataset must be one of .*shapes.*cifar10_jpeg"):
    ip.get_info("cifar11", data_dir)
  with pytest.raises(ValueError, match="dataset must be one of"):
    next(ip.train_batches("nope", batch_size=8, seed=0, data_dir=data_dir))
  with pytest.raises(ValueError, match="batch_size must be a positive multiple"):
    next(_train(data_dir, batch_size=9, process_count=2))
  with pytest.raises(ValueError, match="process_index"):
    next(_train(data_dir, process_index=2, process_count=2))
  with pytest.raises(ValueError, match="split must be one of"):
    next(ip.eval_batches("shapes", batch_size=8, split="validation", data_dir=data_dir))


def test_missing_tfds_dataset_says_how_to_prepare(tmp_path):
  with pytest.raises(FileNotFoundError, match="tfds build cifar10 --file_format=array_record"):
    ip.get_info("cifar10", str(tmp_path))


def test_missing_cifar_archive_says_how_to_prepare(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXMIX_SHARED_DATA", str(tmp_path / "nowhere"))
  with pytest.raises(FileNotFoundError, match="JAXMIX_SHARED_DATA.*prepare_data --dataset "
                                              "cifar10_jpeg"):
    ip.get_info("cifar10_jpeg", str(tmp_path / "tfds"))


def test_default_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv("JAXMIX_DATA_DIR", str(tmp_path))
  assert ip.default_data_dir() == str(tmp_path)
  monkeypatch.delenv("JAXMIX_DATA_DIR")
  assert ip.default_data_dir() == os.path.expanduser("~/tensorflow_datasets")
  assert ip.default_data_dir("/x/y") == "/x/y"


def test_reading_does_not_import_tensorflow(data_dir):
  code = textwrap.dedent(f"""
      import sys
      from experiments import input_pipeline as ip
      info = ip.get_info("shapes", {data_dir!r})
      batch = next(ip.train_batches("shapes", batch_size=32, seed=0, data_dir={data_dir!r}))
      ev = next(ip.eval_batches("shapes", batch_size=32, data_dir={data_dir!r}))
      assert batch["image"].shape == (32, 32, 32, 3) and ev["box"].shape == (32, 4)
      assert "tensorflow" not in sys.modules, "TensorFlow was imported"
      print("ok")
  """)
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().endswith("ok")


def test_benchmark_runs(data_dir):
  rate = ip.benchmark("shapes", batch_size=64, steps=5, data_dir=data_dir)
  assert rate > 0


# A TFDS catalogue dataset, prepared elsewhere with TensorFlow, stores its `Image` features as
# encoded bytes. These fakes write the same records without TensorFlow (the encoded bytes as a
# string Tensor), so that the catalogue path (`tfds.builder(name)` + Pillow decoding) is tested.


def _encode(image, fmt):
  import io  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format=fmt)
  return buffer.getvalue()


def _fake_catalogue_dataset(data_dir, name, version, splits, extra):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class Fake(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = tfds.core.Version(version)

    def _info(self):
      features = {"image": tfds.features.Tensor(shape=(), dtype=np.object_),
                  "label": tfds.features.ClassLabel(num_classes=extra["num_classes"]),
                  extra["key"]: tfds.features.Text()}
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features),
                                   disable_shuffling=True)

    def _split_generators(self, dl_manager):
      return {split: self._generate_examples(examples) for split, examples in splits.items()}

    def _generate_examples(self, examples):
      for i, (encoded, label) in enumerate(examples):
        yield i, {"image": encoded, "label": label, extra["key"]: f"example_{i}"}

  Fake.name = name
  tfds.disable_progress_bar()
  Fake(data_dir=data_dir).download_and_prepare(file_format="array_record")


def test_tfds_catalogue_dataset_read_without_tensorflow(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
  examples = [(_encode(im, "PNG"), i % 10) for i, im in enumerate(images)]
  _fake_catalogue_dataset(str(tmp_path), "cifar10", "3.0.2",
                          {"train": examples[:8], "test": examples[8:]},
                          {"num_classes": 10, "key": "id"})
  info = ip.get_info("cifar10", str(tmp_path))
  assert (info.num_train, info.num_eval, info.image_shape) == (8, 4, (32, 32, 3))
  test = ip.load_split_arrays("cifar10", "test", str(tmp_path))
  np.testing.assert_array_equal(test["image"], images[8:])
  np.testing.assert_array_equal(test["label"], [8, 9, 0, 1])
  batch = next(ip.train_batches("cifar10", batch_size=4, seed=0, data_dir=str(tmp_path)))
  assert batch["image"].shape == (4, 32, 32, 3) and batch["image"].dtype == np.uint8


def test_imagenet_streams_and_resizes(tmp_path):
  rng = np.random.default_rng(0)
  sizes = [(300, 260), (240, 400), (256, 256), (500, 300), (230, 230), (260, 700)]
  images = [rng.integers(0, 256, size=s + (3,), dtype=np.uint8) for s in sizes]
  examples = [(_encode(im, "JPEG"), i) for i, im in enumerate(images)]
  _fake_catalogue_dataset(str(tmp_path), "imagenet2012", "5.1.0",
                          {"train": examples[:4], "validation": examples[4:]},
                          {"num_classes": 1000, "key": "file_name"})
  info = ip.get_info("imagenet2012", str(tmp_path))
  assert (info.num_train, info.num_eval, info.image_shape) == (4, 2, (224, 224, 3))
  kwargs = dict(batch_size=4, seed=0, data_dir=str(tmp_path), prefetch=0)
  a = _take(ip.train_batches("imagenet2012", **kwargs), 3)
  _assert_batches_equal(a, _take(ip.train_batches("imagenet2012", **kwargs), 3))
  _assert_batches_equal(a[2:], _take(ip.train_batches("imagenet2012", start_step=2, **kwargs), 1))
  assert a[0]["image"].shape == (4, 224, 224, 3) and a[0]["image"].dtype == np.uint8
  assert sorted(a[0]["label"]) == [0, 1, 2, 3]
  halves = [next(ip.train_batches("imagenet2012", process_index=p, process_count=2, **kwargs))
            for p in range(2)]
  np.testing.assert_array_equal(np.concatenate([h["image"] for h in halves]), a[0]["image"])
  batches = list(ip.eval_batches("imagenet2012", batch_size=4, data_dir=str(tmp_path)))
  assert len(batches) == 1 and batches[0]["mask"].tolist() == [True, True, False, False]
  assert batches[0]["image"].shape == (4, 224, 224, 3)
  with pytest.raises(ValueError, match="varying size"):
    ip.load_split_arrays("imagenet2012", "train", str(tmp_path))

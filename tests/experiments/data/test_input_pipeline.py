"""Tests of experiments/input_pipeline.py on the embedded shapes dataset (prepared once, in tmp).

Expected batches are restated here from the documented contract, independently of the pipeline's
code: epoch e visits the examples in the order of grain's `index_shuffle` with seed s + e (s drawn
from the run seed), global batch k is examples [kB, (k+1)B) of the concatenated epochs, and its
crop/flip draws come from `np.random.default_rng([seed, 1, k])`.
"""

import itertools
import os
import pathlib
import subprocess
import sys
import textwrap

import grain
import numpy as np
import pytest

from experiments.data import pipeline as ip

BATCH = 256  # 10,000 / 256: epoch 0 ends inside step 39.
N_TRAIN = 10_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  ip.get_info("shapes", data_dir)  # Prepares on first use.
  return data_dir


@pytest.fixture(scope="module")
def train_arrays(data_dir):
  return ip.load_split_arrays("shapes", "train", data_dir)


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


# ---------------------------------------------------------------- independent restatement


def _expected_order(seed, n, num_examples):
  """The first `num_examples` example indices of the concatenated epochs."""
  s = int(np.random.default_rng([seed, 0]).integers(1 << 32))
  out = []
  for epoch in range(-(-num_examples // n)):
    out += [grain.experimental.index_shuffle(i, max_index=n - 1, seed=(s + epoch) % (1 << 32),
                                                rounds=4) for i in range(n)]
  return np.array(out[:num_examples])


def _reference_crop_and_flip(images, offsets, flips, pad=4, padding="zeros"):
  mode = "constant" if padding == "zeros" else "reflect"
  out = []
  for image, (oy, ox), flip in zip(images, offsets, flips):
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode=mode)
    window = padded[oy:oy + image.shape[0], ox:ox + image.shape[1]]
    out.append(window[:, ::-1] if flip else window)
  return np.stack(out)


def _expected_batch(arrays, seed, step, batch_size, augment):
  rows = _expected_order(seed, len(arrays["label"]), (step + 1) * batch_size)[step * batch_size:]
  images = arrays["image"][rows]
  if augment:
    rng = np.random.default_rng([seed, 1, step])
    offsets = rng.integers(0, 9, size=(batch_size, 2))
    flips = rng.random(batch_size) < 0.5
    images = _reference_crop_and_flip(images, offsets, flips)
  return {"image": images, "label": arrays["label"][rows]}


# ------------------------------------------------------------------------------------ train


def test_info(data_dir):
  info = ip.get_info("shapes", data_dir)
  assert info.name == "shapes"
  assert info.num_classes == len(info.class_names) == 10
  assert info.image_shape == (32, 32, 3)
  assert (info.num_train, info.num_eval) == (N_TRAIN, 2_000)
  images = ip.load_split_arrays("shapes", "train", data_dir)["image"].astype(np.float64)
  np.testing.assert_allclose(info.mean, images.mean(axis=(0, 1, 2)), rtol=1e-6)
  np.testing.assert_allclose(info.std, images.std(axis=(0, 1, 2)), rtol=1e-6)


def test_train_batch_format(data_dir):
  it = _train(data_dir, batch_size=64)
  assert isinstance(it, grain.DatasetIterator)
  batch = next(it)
  assert set(batch) == {"image", "label"}
  assert batch["image"].dtype == np.uint8 and batch["image"].shape == (64, 32, 32, 3)
  assert batch["label"].dtype == np.int32 and batch["label"].shape == (64,)


@pytest.mark.parametrize("augment", [False, True])
@pytest.mark.parametrize("seed", [0, 3])
def test_batches_equal_independent_restatement(data_dir, train_arrays, augment, seed):
  # Steps 38-40 cross the end of epoch 0 (inside step 39).
  batches = _take(_train(data_dir, seed=seed, augment=augment, start_step=38), 3)
  for i, batch in enumerate(batches):
    expected = _expected_batch(train_arrays, seed, 38 + i, BATCH, augment)
    np.testing.assert_array_equal(batch["label"], expected["label"])
    np.testing.assert_array_equal(batch["image"], expected["image"])


def test_different_seed_different_batches(data_dir):
  a, b = next(_train(data_dir, seed=0)), next(_train(data_dir, seed=1))
  assert not np.array_equal(a["label"], b["label"])
  assert not np.array_equal(a["image"], b["image"])
  c, d = _take(_train(data_dir, seed=0), 2)
  assert not np.array_equal(c["image"], d["image"])


def test_seeds_do_not_share_epochs(data_dir):
  # grain shuffles epoch e with seed + e: run seed 1 must not replay run seed 0's second epoch.
  first_of_seed1 = next(_train(data_dir, seed=1, batch_size=250, augment=False))
  second_epoch_of_seed0 = next(_train(data_dir, seed=0, batch_size=250, augment=False,
                                      start_step=40))
  assert not np.array_equal(first_of_seed1["label"], second_epoch_of_seed0["label"])


def test_each_epoch_visits_every_example_once(data_dir, train_arrays):
  # 250 divides 10,000: steps 0-39 are epoch 0, steps 40-79 epoch 1.
  batches = _take(_train(data_dir, batch_size=250, augment=False), 80)
  key = {im.tobytes(): i for i, im in enumerate(train_arrays["image"])}
  assert len(key) == N_TRAIN  # Images are distinct, so an image identifies its example.
  epochs = [[key[im.tobytes()] for b in batches[e * 40:(e + 1) * 40] for im in b["image"]]
            for e in range(2)]
  for epoch in epochs:
    np.testing.assert_array_equal(np.sort(epoch), np.arange(N_TRAIN))
  assert epochs[0] != epochs[1]  # Reshuffled every epoch.


@pytest.mark.parametrize("augment", [False, True])
@pytest.mark.parametrize("process_count", [2, 4])
def test_process_slices_concatenate_to_the_global_batch(data_dir, augment, process_count):
  whole = _take(_train(data_dir, augment=augment, start_step=38), 3)
  parts = [_take(_train(data_dir, augment=augment, start_step=38, process_index=p,
                        process_count=process_count), 3) for p in range(process_count)]
  for step in range(3):
    assert parts[0][step]["image"].shape == (BATCH // process_count, 32, 32, 3)
    for k in ("image", "label"):
      np.testing.assert_array_equal(np.concatenate([p[step][k] for p in parts]), whole[step][k])


@pytest.mark.parametrize("augment", [False, True])
def test_start_step_and_set_state_resume_bitwise(data_dir, augment):
  fresh = _take(_train(data_dir, augment=augment), 42)  # Crosses the end of epoch 0 (step 39).
  for start in (1, 39, 40):
    it = _train(data_dir, augment=augment, start_step=start)
    assert it.get_state() == {"next_index": start}
    _assert_batches_equal(_take(it, 42 - start), fresh[start:])
  it = _train(data_dir, augment=augment)
  _take(it, 5)
  state = it.get_state()
  restored = _train(data_dir, augment=augment)
  restored.set_state(state)
  _assert_batches_equal(_take(restored, 3), fresh[5:8])


def test_orbax_checkpoint_restores_the_iterator(data_dir, tmp_path):
  ocp = pytest.importorskip("orbax.checkpoint")
  fresh = _take(_train(data_dir), 8)
  it = _train(data_dir)
  _take(it, 5)
  with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
    manager.save(5, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it)))
    manager.wait_until_finished()
  restored = _train(data_dir)  # A new process would build the iterator at step 0 ...
  with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
    manager.restore(5, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(restored)))
  assert restored.get_state() == {"next_index": 5}  # ... and the checkpoint moves it to step 5.
  _assert_batches_equal(_take(restored, 3), fresh[5:8])


# ------------------------------------------------------------------------------ crop & flip


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
@pytest.mark.parametrize("pad", [1, 4])
def test_crop_and_flip_matches_reference(padding, pad):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(16, 8, 6, 3), dtype=np.uint8)
  offsets = rng.integers(0, 2 * pad + 1, size=(16, 2))
  flips = rng.random(16) < 0.5
  out = ip.crop_and_flip(images, offsets, flips, pad=pad, padding=padding)
  assert out.dtype == np.uint8
  np.testing.assert_array_equal(out, _reference_crop_and_flip(images, offsets, flips, pad,
                                                              padding))


def test_crop_and_flip_edge_cases():
  images = np.arange(2 * 4 * 4 * 1, dtype=np.uint8).reshape(2, 4, 4, 1)
  centre = np.array([[2, 2], [2, 2]])
  np.testing.assert_array_equal(ip.crop_and_flip(images, centre, [False, False], pad=2), images)
  np.testing.assert_array_equal(ip.crop_and_flip(images, centre, [True, True], pad=2),
                                images[:, :, ::-1])
  corner = ip.crop_and_flip(images, np.array([[0, 0], [4, 4]]), [False, False], pad=2)
  np.testing.assert_array_equal(corner[0, 2:, 2:], images[0, :2, :2])
  assert not corner[0, :2].any() and not corner[0, :, :2].any()
  np.testing.assert_array_equal(corner[1, :2, :2], images[1, 2:, 2:])
  with pytest.raises(ValueError, match="padding"):
    ip.crop_and_flip(images, centre, [False, False], padding="edge")


def test_sampled_offsets_cover_the_range_and_half_flip():
  offsets, flips = ip.sample_crop_and_flip(np.random.default_rng(0), 4000, pad=4)
  assert offsets.min() == 0 and offsets.max() == 8
  np.testing.assert_allclose(np.bincount(offsets.ravel()) / offsets.size, 1 / 9, atol=0.01)
  assert 0.47 < flips.mean() < 0.53


# ------------------------------------------------------------------------------------- eval


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
      assert batch["label"].dtype == np.int32 and batch["object_mask"].shape == (b, 32, 32)
      assert not batch["image"][~batch["mask"]].any()  # Padding is zeros.
  merged = {k: np.concatenate([per_process[p][i][k] for i in range(4)
                               for p in range(process_count)])
            for k in ("image", "label", "box", "object_mask", "mask")}
  np.testing.assert_array_equal(merged["mask"], np.arange(2400) < 2000)
  for k in ("image", "label", "box", "object_mask"):
    np.testing.assert_array_equal(merged[k][:2000], arrays[k])


def test_load_split_arrays(data_dir):
  arrays = ip.load_split_arrays("shapes", "test", data_dir)
  assert arrays["image"].shape == (2000, 32, 32, 3)
  assert arrays["label"].dtype == np.int32 and arrays["box"].shape == (2000, 4)
  assert arrays["object_mask"].shape == (2000, 32, 32)
  with pytest.raises(ValueError):
    arrays["image"][0, 0, 0, 0] = 1  # The cached arrays are read-only.


# ---------------------------------------------------------------------------------- subsets


def test_train_subset_and_holdout(data_dir, train_arrays):
  labels = train_arrays["label"]
  info = ip.get_info("shapes", data_dir, train_size=1000, holdout_size=500)
  assert (info.num_train, info.num_holdout) == (1000, 500)
  key = {im.tobytes(): i for i, im in enumerate(train_arrays["image"])}
  seen = {}
  for seed in (0, 1):
    batches = _take(_train(data_dir, seed=seed, batch_size=100, augment=False, train_size=1000,
                           holdout_size=500), 10)
    seen[seed] = sorted(key[im.tobytes()] for b in batches for im in b["image"])
  assert seen[0] == seen[1]  # The same 1,000 images whatever the seed ...
  assert len(set(seen[0])) == 1000  # ... each once per epoch,
  np.testing.assert_array_equal(np.bincount(labels[seen[0]], minlength=10), np.full(10, 100))
  holdout = [key[im.tobytes()] for b in ip.eval_batches(
      "shapes", batch_size=128, split="holdout", holdout_size=500, data_dir=data_dir)
             for im, m in zip(b["image"], b["mask"]) if m]
  assert len(set(holdout)) == 500 and not set(holdout) & set(seen[0])  # disjoint, balanced.
  np.testing.assert_array_equal(np.bincount(labels[holdout], minlength=10), np.full(10, 50))


def test_subset_indices_nest_and_keep_the_holdout():
  labels = np.repeat(np.arange(4), 30)
  small, hold = ip.registry.subset_indices(labels, train_size=20, holdout_size=8)
  large, hold2 = ip.registry.subset_indices(labels, train_size=60, holdout_size=8)
  rest, hold3 = ip.registry.subset_indices(labels, holdout_size=8)
  np.testing.assert_array_equal(hold, hold2)
  np.testing.assert_array_equal(hold, hold3)
  assert set(small) <= set(large) and len(rest) == 112 and not set(rest) & set(hold)
  np.testing.assert_array_equal(np.bincount(labels[small]), [5, 5, 5, 5])
  uneven, _ = ip.registry.subset_indices(labels, train_size=6)
  np.testing.assert_array_equal(np.bincount(labels[uneven]), [2, 2, 1, 1])


def test_subset_errors(data_dir):
  with pytest.raises(ValueError, match="train_size must be in"):
    ip.get_info("shapes", data_dir, train_size=9_600, holdout_size=500)
  with pytest.raises(ValueError, match="holdout_size must be in"):
    next(_train(data_dir, holdout_size=20_000))
  with pytest.raises(ValueError, match="class 0"):
    ip.registry.subset_indices(np.array([0, 1, 1, 1]), train_size=2, holdout_size=1)
  with pytest.raises(ValueError, match="holdout_size > 0"):
    next(ip.eval_batches("shapes", batch_size=8, split="holdout", data_dir=data_dir))


# ------------------------------------------------------------------------ errors, dirs, CLI


def test_bad_arguments(data_dir):
  # shapes is prepared in data_dir, but under its builder's folder name, not as a user dataset.
  with pytest.raises(ValueError, match=r"unknown dataset 'cifar11'.*shapes.*\(none yet\).*"
                                       r"prepare_data"):
    ip.get_info("cifar11", data_dir)
  with pytest.raises(ValueError, match="unknown dataset"):
    ip.train_batches("nope", batch_size=8, seed=0, data_dir=data_dir)
  with pytest.raises(ValueError, match="batch_size must be a positive multiple"):
    _train(data_dir, batch_size=9, process_count=2)
  with pytest.raises(ValueError, match="process_index"):
    _train(data_dir, process_index=2, process_count=2)
  with pytest.raises(ValueError, match="split must be one of"):
    ip.eval_batches("shapes", batch_size=8, split="validation", data_dir=data_dir)


def test_missing_tfds_dataset_says_how_to_prepare(tmp_path):
  with pytest.raises(FileNotFoundError, match="tfds build cifar10 --file_format=array_record"):
    ip.get_info("cifar10", str(tmp_path))


@pytest.mark.parametrize("dataset", ["cifar10_jpeg", "fashion_mnist_idx"])
def test_missing_shared_source_is_one_clear_line(tmp_path, monkeypatch, dataset):
  monkeypatch.setenv("JAXMIX_SHARED_DATA", "/nonexistent")
  with pytest.raises(FileNotFoundError, match=f"{dataset} is not prepared.*/nonexistent.*"
                                              f"JAXMIX_SHARED_DATA.*prepare_data") as e:
    ip.get_info(dataset, str(tmp_path / "tfds"))
  assert "\n" not in str(e.value)


def test_default_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv("JAXMIX_DATA_DIR", str(tmp_path))
  assert ip.default_data_dir() == str(tmp_path)
  assert ip.default_data_dir("") == str(tmp_path)  # The config's "" means the default.
  monkeypatch.delenv("JAXMIX_DATA_DIR")
  assert ip.default_data_dir("") == os.path.expanduser("~/tensorflow_datasets")
  assert ip.default_data_dir("/x/y") == "/x/y"


def test_empty_data_dir_reads_the_default(data_dir, monkeypatch):
  monkeypatch.setenv("JAXMIX_DATA_DIR", data_dir)
  assert next(ip.train_batches("shapes", batch_size=8, seed=0, data_dir=""))["image"].shape == (
      8, 32, 32, 3)


def test_config_data_dir_is_a_string_field():
  from experiments.configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.data_dir = "/some/dir"  # What `--config.data_dir=/some/dir` does; None refused it.
  assert config.data_dir == "/some/dir"


def test_reading_does_not_import_tensorflow(data_dir):
  code = textwrap.dedent(f"""
      import sys
      from experiments.data import pipeline as ip
      info = ip.get_info("shapes", {data_dir!r})
      batch = next(ip.train_batches("shapes", batch_size=32, seed=0, data_dir={data_dir!r}))
      ev = next(ip.eval_batches("shapes", batch_size=32, data_dir={data_dir!r}))
      assert batch["image"].shape == (32, 32, 32, 3) and ev["box"].shape == (32, 4)
      assert "tensorflow" not in sys.modules, "TensorFlow was imported"
      print("ok")
  """)
  root = str(pathlib.Path(__file__).resolve().parents[3])
  result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().endswith("ok")


def test_bench_cli_prints_a_rate_per_setting(data_dir, capsys):
  ip.main(["--dataset", "shapes", "--data_dir", data_dir, "--bench", "--steps", "3",
           "--batch_size", "16"])
  lines = [l for l in capsys.readouterr().out.splitlines() if l.endswith("images/s")]
  assert len(lines) == 6 and all(l.startswith("shapes batch 16 augment=") for l in lines)


def test_cli_unknown_dataset_is_one_error_line(capsys, tmp_path):
  with pytest.raises(SystemExit) as e:
    ip.main(["--dataset", "nope", "--data_dir", str(tmp_path)])
  assert e.value.code == 2
  assert capsys.readouterr().err.startswith("error: unknown dataset 'nope'")


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
  _assert_batches_equal(a[2:], _take(ip.train_batches("imagenet2012", start_step=2, **kwargs), 1))
  assert a[0]["image"].shape == (4, 224, 224, 3) and a[0]["image"].dtype == np.uint8
  assert sorted(a[0]["label"]) == [0, 1, 2, 3]
  assert not np.array_equal(a[0]["image"], a[1]["image"])  # Other crops, other order.
  halves = [next(ip.train_batches("imagenet2012", process_index=p, process_count=2, **kwargs))
            for p in range(2)]
  np.testing.assert_array_equal(np.concatenate([h["image"] for h in halves]), a[0]["image"])
  batches = list(ip.eval_batches("imagenet2012", batch_size=4, data_dir=str(tmp_path)))
  assert len(batches) == 1 and batches[0]["mask"].tolist() == [True, True, False, False]
  assert batches[0]["image"].shape == (4, 224, 224, 3)
  with pytest.raises(ValueError, match="varying size"):
    ip.load_split_arrays("imagenet2012", "train", str(tmp_path))

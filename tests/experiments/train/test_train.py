"""The training loop end to end: outputs, Ctrl-C / SIGTERM / kill and resume, reruns, 8 devices.

Runs that need their own process (a signal, a device count) go through the real CLI on the
embedded shapes dataset with configs/test.py; `slow_cli` is that CLI with each step slowed
down by the test hook `on_step` of `train_and_evaluate`, so that a signal lands mid-run.
"""

import json
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.train import checkpointing
from experiments.eval import inference
from experiments import train
from experiments.configs import test as test_config

REPO = pathlib.Path(__file__).resolve().parents[3]
CONFIG = "experiments/configs/test.py"
# The CLI of experiments.main with every step slowed down by `DELAY` seconds (a test hook
# injected here, not read from the config).
SLOW_MAIN = """
import os, sys, time
from experiments import main, train
run = train.train_and_evaluate
delay = float(os.environ["DELAY"])
train.train_and_evaluate = lambda c, w, **k: run(c, w, on_step=lambda s: time.sleep(delay))
sys.argv = ["main.py", *sys.argv[1:]]
main.define_flags()
main.run_main(main.main, sys.argv)
"""


def env_for(devices=1, **extra):
  env = dict(os.environ, JAX_PLATFORMS="cpu", **extra)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  return env


def cli(workdir, *overrides, module="experiments.main", config=CONFIG):
  return [sys.executable, "-m", module, f"--config={config}", f"--workdir={workdir}",
          *overrides]


def run_cli(workdir, *overrides, devices=1, check=True, module="experiments.main", env=None):
  proc = subprocess.run(cli(workdir, *overrides, module=module), env=env or env_for(devices),
                        cwd=REPO, capture_output=True, text=True, timeout=600)
  if check:
    assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def finished_steps(workdir):
  ckpt_dir = pathlib.Path(workdir) / "checkpoints"
  if not ckpt_dir.exists():
    return []
  return sorted(int(p.name) for p in ckpt_dir.iterdir() if p.name.isdigit())


def assert_trees_bitwise_equal(a, b):
  la, ta = jax.tree_util.tree_flatten(a)
  lb, tb = jax.tree_util.tree_flatten(b)
  assert ta == tb
  for x, y in zip(la, lb):
    assert x.dtype == y.dtype and x.shape == y.shape
    assert np.array_equal(x, y), "checkpoints differ"


# Shared by the resume tests: 24 steps, checkpoints every 4, cutmix.
RESUME_ARGS = ("--config.num_train_steps=24", "--config.checkpoint_every_steps=4",
               "--config.keep_checkpoints=2")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("uninterrupted")
  # data_dir given on the command line (a None default that must still be overridable).
  data_dir = os.environ.get("JAXMIX_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")
  proc = run_cli(workdir, *RESUME_ARGS, f"--config.data_dir={data_dir}")
  return workdir, proc


def test_cli_writes_metrics_checkpoints_and_summary(uninterrupted):
  workdir, proc = uninterrupted
  assert "eval_accuracy" in proc.stdout   # The final summary table.
  rows = [json.loads(l) for l in open(workdir / "metrics.jsonl")]
  assert rows[-1]["step"] == 24
  for key in ("train_loss", "eval_accuracy", "eval_top5", "eval_nll", "eval_ece",
              "images_per_sec", "learning_rate", "epoch"):
    assert np.isfinite(rows[-1][key]), key
  header = open(workdir / "metrics.csv").readline().strip().split(",")
  assert "eval_accuracy" in header
  assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  assert finished_steps(workdir) == [20, 24]        # keep_checkpoints=2.
  # The data iterator's position is saved with the state.
  assert (workdir / "checkpoints" / "24" / "data").is_dir()
  saved = np.load(workdir / "eval_logits.npz")
  summary = json.load(open(workdir / "summary.json"))
  assert saved["logits"].shape == (2000, 10)   # The whole shapes test split.
  # The saved logits reproduce the reported accuracy.
  acc = np.mean(saved["logits"].argmax(-1) == saved["labels"])
  assert acc == pytest.approx(summary["eval_accuracy"], abs=1e-9)
  assert json.load(open(workdir / "config.json"))["data_dir"] is not None


def test_rerun_of_finished_run_is_a_noop_printing_its_summary(uninterrupted):
  workdir, _ = uninterrupted
  before = {p: p.stat().st_mtime_ns for p in workdir.rglob("*") if p.is_file()}
  summary = json.load(open(workdir / "summary.json"))
  proc = run_cli(workdir, *RESUME_ARGS, "--config.log_every_steps=3")   # A harmless change.
  assert "nothing to do" in proc.stdout
  assert f"{summary['eval_accuracy']:.4f}" in proc.stdout
  assert "nan" not in proc.stdout.lower()
  assert {p: p.stat().st_mtime_ns for p in workdir.rglob("*") if p.is_file()} == before


def test_rerun_with_another_config_is_refused_before_touching_the_workdir(uninterrupted):
  workdir, _ = uninterrupted
  before = {p: p.stat().st_mtime_ns for p in workdir.rglob("*") if p.is_file()}
  proc = run_cli(workdir, "--config.num_train_steps=30", "--config.checkpoint_every_steps=4",
                 "--config.keep_checkpoints=2", "--config.model_kwargs.width=8",
                 "--config.learning_rate=0.3", check=False)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
  for field in ("num_train_steps", "model_kwargs.width", "learning_rate"):
    assert field in lines[0]
  assert "log_every_steps" not in lines[0]
  assert {p: p.stat().st_mtime_ns for p in workdir.rglob("*") if p.is_file()} == before


def interrupt(workdir, sig, *, env=None):
  """Starts the slowed-down CLI, sends `sig` after the first checkpoint, returns the process."""
  cmd = [sys.executable, "-c", SLOW_MAIN, f"--config={CONFIG}", f"--workdir={workdir}",
         *RESUME_ARGS]
  proc = subprocess.Popen(cmd, env=env or env_for(DELAY="0.15"), cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 300
    while not [s for s in finished_steps(workdir) if s >= 4]:
      assert proc.poll() is None, proc.stderr.read()[-3000:]
      assert time.time() < deadline, "no checkpoint appeared"
      time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  return proc.returncode, out, err


@pytest.mark.parametrize("sig", [
    signal.SIGINT,
    pytest.param(signal.SIGTERM, marks=pytest.mark.slow),  # The same path as SIGINT.
], ids=["SIGINT", "SIGTERM"])
def test_signal_saves_prints_resume_command_and_resume_is_bitwise_equal(
    uninterrupted, tmp_path, sig):
  reference, _ = uninterrupted
  workdir = tmp_path / "interrupted"
  code, _, err = interrupt(workdir, sig)
  assert code == 128 + sig, err[-3000:]
  assert "Traceback" not in err
  saved = max(finished_steps(workdir))
  assert 4 <= saved < 24, "the run finished before the signal"
  assert f"saved step {saved} of 24" in err
  command = err.strip().splitlines()[-1].strip()   # The last line: the command that resumes.
  args = shlex.split(command)
  assert args[:3] == ["python", "-m", "experiments.main"], command
  assert f"--workdir={workdir}" in args and f"--config={CONFIG}" in args
  proc = subprocess.run([sys.executable, *args[1:]], env=env_for(), cwd=REPO,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"resumed from step {saved} of 24" in proc.stdout
  assert finished_steps(workdir)[-1] == 24
  assert_trees_bitwise_equal(checkpointing.load_numpy(reference / "checkpoints"),
                             checkpointing.load_numpy(workdir / "checkpoints"))
  summary = json.load(open(workdir / "summary.json"))
  assert all(np.isfinite(v) for v in summary.values() if isinstance(v, float))


@pytest.mark.slow
def test_resume_after_sigkill_is_bitwise_equal(uninterrupted, tmp_path):
  reference, _ = uninterrupted
  workdir = tmp_path / "killed"
  interrupt(workdir, signal.SIGKILL)
  assert max(finished_steps(workdir)) < 24
  run_cli(workdir, *RESUME_ARGS)
  assert_trees_bitwise_equal(checkpointing.load_numpy(reference / "checkpoints"),
                             checkpointing.load_numpy(workdir / "checkpoints"))


def test_train_module_is_an_alias_of_main(tmp_path):
  # The same flags and the same one-line errors: the README's `python -m experiments.train`.
  proc = run_cli(tmp_path / "run", "--config.batch_size=0", module="experiments.train",
                 check=False)
  assert proc.returncode == 2 and "Traceback" not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1] == "error: config.batch_size must be > 0, got 0"


def test_eight_devices_match_one_device(tmp_path):
  # Partners are chosen within each of 8 shards in both runs (mix_num_shards=8), so the
  # two runs see the same mixed batches; BatchNorm statistics are global in both.
  args = ("--config.num_train_steps=6", "--config.log_every_steps=1",
          "--config.mix_num_shards=8", "--config.save_eval_logits=False")
  run_cli(tmp_path / "one", *args, devices=1)
  run_cli(tmp_path / "eight", *args, devices=8)
  losses = {}
  for name in ("one", "eight"):
    log = [json.loads(l) for l in open(tmp_path / name / "train_log.jsonl")]
    losses[name] = np.array([r["loss"] for r in log])
  assert len(losses["one"]) == 6
  np.testing.assert_allclose(losses["eight"], losses["one"], rtol=2e-4)
  a = checkpointing.load_numpy(tmp_path / "one" / "checkpoints")
  b = checkpointing.load_numpy(tmp_path / "eight" / "checkpoints")
  jax.tree_util.tree_map(
      lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-3, atol=2e-4), a, b)


def test_nan_loss_stops_and_writes_no_later_checkpoint(tmp_path):
  config = test_config.get_config()
  config.num_train_steps = 40
  config.checkpoint_every_steps = 2
  config.log_every_steps = 5
  spike = lambda schedule: lambda step: schedule(step) * jnp.where(step >= 6, 1e8, 1.0)
  with pytest.raises(train.NonFiniteLossError, match="non-finite at step") as err:
    train.train_and_evaluate(config, str(tmp_path), wrap_schedule=spike)
  steps = finished_steps(tmp_path)
  assert steps, "checkpoints before the spike should exist"
  assert max(steps) < err.value.step < 40
  log = [json.loads(l) for l in open(tmp_path / "train_log.jsonl")]
  assert all(np.isfinite(r["loss"]) for r in log)   # Nothing logged past the NaN.


def test_fashion_mnist_trains_with_its_one_channel(tmp_path):
  # 28x28x1 images: the model's stem takes the channel count from the dataset.
  config = test_config.get_config()
  config.dataset = "fashion_mnist_idx"
  config.num_train_steps = 2
  config.save_eval_logits = False
  config.eval_batch_size = 1000
  summary = train.train_and_evaluate(config, str(tmp_path))
  assert summary["steps"] == 2 and np.isfinite(summary["eval_nll"])
  state = checkpointing.load_numpy(tmp_path / "checkpoints")
  assert state["params"]["stem"]["kernel"].shape[2] == 1   # HWIO: one input channel.


def test_load_trained_reproduces_the_saved_eval_logits(uninterrupted):
  workdir, _ = uninterrupted
  trained = inference.load_trained(str(workdir))
  assert trained.step == 24 and trained.config.model == "resnet_small"
  from experiments.data import pipeline as input_pipeline
  batch = next(iter(input_pipeline.eval_batches("shapes", batch_size=64)))
  logits = np.asarray(trained.logits_fn(batch["image"]))
  saved = np.load(workdir / "eval_logits.npz")
  np.testing.assert_allclose(logits, saved["logits"][:64], rtol=1e-4, atol=1e-4)
  np.testing.assert_array_equal(batch["label"], saved["labels"][:64])
  # Class-activation maps: logits = head(mean of the feature maps).
  features = np.asarray(trained.features_fn(batch["image"]))
  assert features.ndim == 4 and features.shape[0] == 64
  params = checkpointing.load_numpy(workdir / "checkpoints")["params"]
  head = params["head"]
  pooled = features.mean(axis=(1, 2))
  np.testing.assert_allclose(pooled @ head["kernel"] + head["bias"], logits, rtol=1e-3,
                             atol=1e-3)


def test_schedules():
  config = test_config.get_config()
  config.learning_rate, config.warmup_epochs = 0.1, 1.0
  cosine = train.make_schedule(config, steps_per_epoch=10, total_steps=100)
  assert float(cosine(0)) == 0.0
  assert float(cosine(10)) == pytest.approx(0.1)
  assert float(cosine(55)) == pytest.approx(0.05 * (1 + np.cos(np.pi * 45 / 90)), rel=1e-5)
  assert float(cosine(100)) == pytest.approx(0.0, abs=1e-7)
  config.schedule, config.warmup_epochs = "multistep", 0.0
  config.lr_boundaries_epochs = (3, 6)
  multi = train.make_schedule(config, steps_per_epoch=10, total_steps=100)
  np.testing.assert_allclose([multi(0), multi(29), multi(30), multi(60)],
                             [0.1, 0.1, 0.01, 0.001], rtol=1e-6)


def test_weight_decay_skips_batchnorm_and_biases():
  config = test_config.get_config()
  config.learning_rate, config.momentum, config.weight_decay = 1.0, 0.0, 0.5
  tx = train.make_optimizer(config, lambda step: 1.0)
  params = {"conv": {"kernel": np.ones((3, 3, 1, 1), np.float32)},
            "bn": {"scale": np.ones(1, np.float32), "bias": np.ones(1, np.float32)}}
  zeros = jax.tree_util.tree_map(np.zeros_like, params)
  updates, _ = tx.update(zeros, tx.init(params), params)
  assert np.all(np.asarray(updates["conv"]["kernel"]) == -0.5)
  assert np.all(np.asarray(updates["bn"]["scale"]) == 0.0)
  assert np.all(np.asarray(updates["bn"]["bias"]) == 0.0)


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
  # 2 processes x 2 CPU devices (jax.distributed on localhost) vs 1 process x 4 devices.
  args = ("--config.num_train_steps=6", "--config.log_every_steps=1",
          "--config.mix_num_shards=4", "--config.save_eval_logits=False")
  env = dict(os.environ, PORT=str(12000 + os.getpid() % 1000))
  proc = subprocess.Popen(["bash", "experiments/scripts/two_process_cpu.sh",
                           str(tmp_path / "two"), *args], env=env, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
  try:
    out, _ = proc.communicate(timeout=300)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)   # The script and both trainers.
    raise
  assert proc.returncode == 0, out[-3000:]
  run_cli(tmp_path / "one", *args, devices=4)
  losses = [np.array([json.loads(l)["loss"]
                      for l in open(tmp_path / name / "train_log.jsonl")])
            for name in ("one", "two")]
  assert len(losses[0]) == 6
  np.testing.assert_allclose(losses[1], losses[0], rtol=2e-4)


def test_own_image_folder_trains_by_name(tmp_path):
  # A user's folder of grayscale images (split/class/image.png), prepared, then trained by name.
  from PIL import Image
  rng = np.random.default_rng(0)
  for split, n in (("train", 6), ("test", 3)):
    for cls in ("ant", "bee"):
      (tmp_path / "pics" / split / cls).mkdir(parents=True)
      for i in range(n):
        Image.fromarray(rng.integers(0, 256, (12, 10), dtype=np.uint8)).save(
            tmp_path / "pics" / split / cls / f"{i}.png")
  data_dir = tmp_path / "tfds"
  subprocess.run([sys.executable, "-m", "experiments.prepare_data", "--dataset", "image_folder",
                  "--name", "my_data", "--source", str(tmp_path / "pics"), "--data_dir",
                  str(data_dir), "--grayscale"], env=env_for(), cwd=REPO, check=True,
                 capture_output=True)
  run_cli(tmp_path / "run", "--config.dataset=my_data", f"--config.data_dir={data_dir}",
          "--config.num_train_steps=2", "--config.batch_size=4")
  saved = np.load(tmp_path / "run" / "eval_logits.npz")
  assert saved["logits"].shape == (6, 2)
  state = checkpointing.load_numpy(tmp_path / "run" / "checkpoints")
  assert state["params"]["stem"]["kernel"].shape[2] == 1


def test_checkpoint_and_eval_at_every_epoch_end(tmp_path):
  # checkpoint_every_steps far beyond the run: epoch ends still checkpoint (quickstart case).
  config = test_config.get_config()
  config.train_size, config.batch_size = 80, 16   # 5 steps per epoch.
  config.num_train_steps, config.num_epochs = -1, 3
  config.checkpoint_every_steps = 1000
  config.save_eval_logits = False
  summary = train.train_and_evaluate(config, str(tmp_path))
  assert finished_steps(tmp_path) == [5, 10, 15]
  rows = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert [(r["step"], r["epoch"]) for r in rows] == [(5, 1.0), (10, 2.0), (15, 3.0)]
  assert summary["best_eval_accuracy"] == max(r["eval_accuracy"] for r in rows)

"""The training loop end to end: CLI, outputs, resume after a kill, 8 devices, NaN stop.

Runs that need their own process (a kill, a device count) go through the real CLI,
`python -m experiments.train`, on the embedded shapes dataset with configs/test.py.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from experiments import checkpointing
from experiments import train
from experiments.configs import test as test_config

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG = "experiments/configs/test.py"


def cli(workdir, *overrides, devices=1):
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  env["JAX_PLATFORMS"] = "cpu"
  cmd = [sys.executable, "-m", "experiments.train", f"--config={CONFIG}",
         f"--workdir={workdir}", *overrides]
  return cmd, env


def run_cli(workdir, *overrides, devices=1, check=True):
  cmd, env = cli(workdir, *overrides, devices=devices)
  proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True,
                        timeout=600)
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
  proc = run_cli(workdir, *RESUME_ARGS)
  return workdir, proc


def test_cli_writes_metrics_checkpoints_and_summary(uninterrupted):
  workdir, proc = uninterrupted
  assert "eval_accuracy" in proc.stdout   # The final summary table.
  rows = [json.loads(l) for l in open(workdir / "metrics.jsonl")]
  assert rows[-1]["step"] == 24
  for key in ("train_loss", "eval_accuracy", "eval_top5", "eval_nll", "eval_ece",
              "images_per_sec", "learning_rate"):
    assert np.isfinite(rows[-1][key]), key
  header = open(workdir / "metrics.csv").readline().strip().split(",")
  assert "eval_accuracy" in header
  assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  assert finished_steps(workdir) == [20, 24]        # keep_checkpoints=2.
  saved = np.load(workdir / "eval_logits.npz")
  summary = json.load(open(workdir / "summary.json"))
  assert saved["logits"].shape == (2000, 10)   # The whole shapes test split.
  # The saved logits reproduce the reported accuracy.
  acc = np.mean(saved["logits"].argmax(-1) == saved["labels"])
  assert acc == pytest.approx(summary["eval_accuracy"], abs=1e-9)


@pytest.mark.parametrize("sig", [
    signal.SIGKILL,
    pytest.param(signal.SIGTERM, marks=pytest.mark.slow),  # Graceful; same result.
], ids=["SIGKILL", "SIGTERM"])
def test_resume_after_kill_is_bitwise_equal(uninterrupted, tmp_path, sig):
  reference, _ = uninterrupted
  workdir = tmp_path / "killed"
  cmd, env = cli(workdir, *RESUME_ARGS, "--config.debug_step_delay_s=0.15")
  proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 300
    while not [s for s in finished_steps(workdir) if s >= 8]:
      assert proc.poll() is None, proc.stderr.read()[-3000:]
      assert time.time() < deadline, "no checkpoint appeared"
      time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  killed_at = max(finished_steps(workdir))
  assert killed_at < 24, "the run finished before it was killed"
  if sig == signal.SIGTERM:   # Graceful: exits after checkpointing the current step.
    assert proc.returncode != 0
  run_cli(workdir, *RESUME_ARGS)
  assert finished_steps(workdir)[-1] == 24
  assert_trees_bitwise_equal(checkpointing.load_numpy(reference / "checkpoints"),
                             checkpointing.load_numpy(workdir / "checkpoints"))


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
  config.debug_lr_spike_step = 6
  config.debug_lr_spike = 1e8
  with pytest.raises(train.NonFiniteLossError, match="non-finite at step") as err:
    train.train_and_evaluate(config, str(tmp_path))
  steps = finished_steps(tmp_path)
  assert steps, "checkpoints before the spike should exist"
  assert max(steps) < err.value.step
  assert err.value.step < 40
  log = [json.loads(l) for l in open(tmp_path / "train_log.jsonl")]
  assert all(np.isfinite(r["loss"]) for r in log)   # Nothing logged past the NaN.


def test_unknown_dataset_and_model_and_mix_are_clear_errors(tmp_path):
  for field, value, pattern in [("dataset", "imagenet22k", "Unknown dataset.*shapes"),
                                ("model", "resnet19", "Unknown model.*resnet18"),
                                ("mix", "cutmixup", "mix must be one of")]:
    config = test_config.get_config()
    config[field] = value
    with pytest.raises(ValueError, match=pattern):
      train.train_and_evaluate(config, str(tmp_path))


def test_cli_unknown_config_field_lists_choices(tmp_path):
  proc = run_cli(tmp_path, "--config.mixx=cutmix", check=False)
  assert proc.returncode != 0
  assert "Unknown config field 'mixx'" in proc.stderr
  assert "'mix'" in proc.stderr and "learning_rate" in proc.stderr


def test_schedules():
  config = test_config.get_config()
  config.learning_rate, config.warmup_epochs = 0.1, 1.0
  cosine = train.make_schedule(config, steps_per_epoch=10, total_steps=100)
  assert float(cosine(0)) == 0.0
  assert float(cosine(10)) == pytest.approx(0.1)
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


@pytest.mark.parametrize("path", sorted(
    str(p.relative_to(REPO)) for p in (REPO / "experiments" / "configs").glob("*.py")
    if p.name not in ("__init__.py", "cifar.py")))
def test_every_config_loads_and_validates(path):
  import importlib.util
  spec = importlib.util.spec_from_file_location("cfg", REPO / path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  train.validate_config(config)
  assert set(config.keys()) == set(test_config.get_config().keys())

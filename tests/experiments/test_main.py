"""User errors on the command line: one line `error: ...` on stderr, exit status 2, no traceback.

Each case is a failure a newcomer met (issue 6). The CLI runs in a subprocess, as a user runs it.
"""

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFIG = "experiments/configs/test.py"


def run(args, *, devices=1, env=None, module="experiments.main"):
  full_env = dict(os.environ, JAX_PLATFORMS="cpu",
                  XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", **(env or {}))
  return subprocess.run([sys.executable, "-m", module, *args], env=full_env, cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc, *fragments):
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  errors = [l for l in lines if l.startswith("error: ")]
  assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr[-3000:]
  for fragment in fragments:
    assert fragment in errors[0], errors[0]
  return errors[0]


CASES = {
    "batch_size_zero": (["--config.batch_size=0"], {}, ["batch_size", "> 0"]),
    "num_epochs_negative": (["--config.num_epochs=-1", "--config.num_train_steps=-1"], {},
                            ["num_epochs", "-1"]),
    "num_epochs_zero": (["--config.num_epochs=0", "--config.num_train_steps=-1"], {},
                        ["num_epochs"]),
    "unknown_dataset": (["--config.dataset=imagenet22k"], {}, ["imagenet22k", "shapes"]),
    "unknown_model": (["--config.model=resnet19"], {}, ["resnet19", "resnet18"]),
    "unknown_mix": (["--config.mix=cutmixup"], {}, ["cutmixup", "cutmix"]),
    "unknown_field": (["--config.mixx=cutmix"], {}, ["mixx", "'mix'", "learning_rate"]),
    "bad_value": (["--config.batch_size=many"], {}, ["batch_size", "many"]),
    "batch_not_divisible_by_devices": (["--config.batch_size=15"], {"devices": 2},
                                       ["batch_size (15)", "devices (2)"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_user_error_is_one_line(tmp_path, name):
  overrides, kwargs, fragments = CASES[name]
  proc = run([f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}", *overrides], **kwargs)
  assert_one_line_error(proc, *fragments)
  assert not (tmp_path / "run").exists()   # Refused before anything was written.


def test_workdir_that_is_a_file(tmp_path):
  path = tmp_path / "file"
  path.write_text("not a directory")
  assert_one_line_error(run([f"--config={CONFIG}", f"--workdir={path}"]), str(path), "file")
  assert path.read_text() == "not a directory"


def test_missing_dataset_source(tmp_path):
  # cifar10_jpeg is prepared from an archive; nowhere to find it → say where it was looked for.
  proc = run([f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}",
              "--config.dataset=cifar10_jpeg", f"--config.data_dir={tmp_path / 'data'}"],
             env={"JAXMIX_SHARED_DATA": str(tmp_path / "nowhere")})
  assert_one_line_error(proc, "cifar10")


def test_missing_config_file(tmp_path):
  assert_one_line_error(run([f"--config={tmp_path}/nope.py", f"--workdir={tmp_path}"]),
                        "nope.py")


def test_quickstart_unknown_field_and_file_workdir(tmp_path):
  assert_one_line_error(run(["--config.mixx=1", f"--workdir={tmp_path}"],
                            module="experiments.quickstart"), "mixx", "'mix'")
  path = tmp_path / "file"
  path.write_text("")
  assert_one_line_error(run([f"--workdir={path}", "--config.num_train_steps=1"],
                            module="experiments.quickstart"), str(path))

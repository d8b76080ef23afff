"""The README's quickstart snippet runs as written, and its two set-up commands are the ones CI uses."""

import pathlib
import re
import shutil
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import optax

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _block(marker: str) -> str:
  text = README.read_text()
  match = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```\n<!-- /{marker} -->", text, re.S)
  assert match, f"README.md has no {marker} block"
  return match.group(1)


def test_quickstart_snippet_trains_a_linear_model():
  snippet = _block("QUICKSTART")
  assert len(snippet.strip().splitlines()) <= 16
  num_classes = 10

  def model_apply(params, x):
    return x.reshape(x.shape[0], -1) @ params["w"]

  optimizer = optax.sgd(0.1)
  namespace = {"model_apply": model_apply, "optimizer": optimizer}
  exec(compile(snippet, "README.md", "exec"), namespace)
  train_step = namespace["train_step"]
  params = {"w": jnp.zeros((8 * 8 * 3, num_classes))}
  opt_state = optimizer.init(params)
  rng = np.random.RandomState(0)
  images = jnp.asarray(rng.randint(0, 256, (16, 8, 8, 3)), jnp.uint8)
  labels = jnp.asarray(rng.randint(0, num_classes, 16), jnp.int32)
  losses = []
  for step in range(3):
    params, opt_state, loss = train_step(params, opt_state, images, labels, step)
    losses.append(float(loss))
  assert np.all(np.isfinite(losses)) and losses[0] > losses[-1]


def test_ci_runs_the_readme_test_command(tmp_path):
  # .ci/run itself, in a copy of the repository whose README's test command leaves a mark.
  (tmp_path / ".ci").mkdir()
  shutil.copy(README.parent / ".ci" / "run", tmp_path / ".ci" / "run")
  # The docs step runs after the test command (a stand-in here: the real one builds the site).
  (tmp_path / ".ci" / "docs").write_text("echo docs >> mark\n")
  # Then the kernel-count step (a stand-in too: the real one installs the CUDA compile plugin).
  (tmp_path / ".ci" / "gpu_compile").write_text("echo gpu_compile >> mark\n")
  (tmp_path / "README.md").write_text(
      "# x\n\n<!-- TEST-COMMAND -->\n```bash\necho ran > mark && echo \"$0\" >> mark\n```\n"
      "<!-- /TEST-COMMAND -->\n\n```bash\necho not this > other\n```\n")
  proc = subprocess.run(["bash", ".ci/run"], cwd=tmp_path, capture_output=True, text=True,
                        timeout=60)
  assert proc.returncode == 0, proc.stderr
  assert (tmp_path / "mark").read_text().splitlines()[0] == "ran"
  assert (tmp_path / "mark").read_text().splitlines()[-2:] == ["docs", "gpu_compile"]
  assert not (tmp_path / "other").exists()
  # Without the block, CI fails instead of running nothing.
  (tmp_path / "README.md").write_text("# x\n```bash\necho ran > mark2\n```\n")
  proc = subprocess.run(["bash", ".ci/run"], cwd=tmp_path, capture_output=True, text=True,
                        timeout=60)
  assert proc.returncode != 0 and not (tmp_path / "mark2").exists()
  # A failing test command stops CI before the docs step.
  (tmp_path / "mark").unlink()
  (tmp_path / "README.md").write_text(
      "<!-- TEST-COMMAND -->\n```bash\nfalse\n```\n<!-- /TEST-COMMAND -->\n")
  proc = subprocess.run(["bash", ".ci/run"], cwd=tmp_path, capture_output=True, text=True,
                        timeout=60)
  assert proc.returncode != 0 and not (tmp_path / "mark").exists()
  # The real README's block is a pytest run.
  assert "pytest" in _block("TEST-COMMAND")

r"""Baseline vs CutMix on the embedded shapes dataset, end to end on a CPU in a few minutes.

  python -m experiments.quickstart --workdir runs/quickstart

Trains configs/quickstart.py twice in one process, with config.mix = "none" and "cutmix"
(workdir/baseline, workdir/cutmix), then prints both test accuracies side by side. Any
config field can be overridden for both runs, e.g. `--config.num_epochs=2`. Re-running
resumes from (or reuses) the finished checkpoints.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from experiments import train

_DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "quickstart.py")
_WORKDIR = flags.DEFINE_string("workdir", "runs/quickstart", "Output directory.")
config_flags.DEFINE_config_file(
    "config", _DEFAULT_CONFIG,
    "Config shared by both runs (mix is set per run).", lock_config=True)
_METHODS = flags.DEFINE_list("methods", ["none", "cutmix"], "config.mix of each run.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  results = {}
  for mix in _METHODS.value:
    config = flags.FLAGS.config.copy_and_resolve_references()
    config.mix = mix
    name = "baseline" if mix == "none" else mix
    print(f"== {name}: {config.model} on {config.dataset}, {config.num_epochs} epochs",
          flush=True)
    try:
      results[name] = train.train_and_evaluate(config, os.path.join(_WORKDIR.value, name))
    except (ValueError, train.NonFiniteLossError) as e:
      raise SystemExit(f"error: {e}") from None
  if jax.process_index() != 0:
    return
  print()
  print(f"{'run':<10}{'accuracy':>10}{'top-5':>8}{'NLL':>8}{'ECE':>8}{'img/s':>8}"
        f"{'time s':>8}")
  for name, r in results.items():
    print(f"{name:<10}{r['eval_accuracy']:>10.4f}{r['eval_top5']:>8.4f}"
          f"{r['eval_nll']:>8.4f}{r['eval_ece']:>8.4f}{r['images_per_sec']:>8.0f}"
          f"{r['wall_time_s']:>8.0f}")
  print("\n(A few epochs favour the baseline; CutMix's gains need long schedules, e.g. "
        "configs/cifar10_resnet18_cutmix.py.)")
  print(f"Metrics: {_WORKDIR.value}/<run>/metrics.jsonl; TensorBoard: "
        f"tensorboard --logdir {_WORKDIR.value}")


if __name__ == "__main__":
  try:
    train.check_config_overrides(
        sys.argv[1:] if any(a.startswith("--config=") or a == "--config"
                            for a in sys.argv[1:])
        else [f"--config={_DEFAULT_CONFIG}"] + sys.argv[1:])
  except app.UsageError as e:
    sys.exit(f"error: {e}")
  app.run(main)

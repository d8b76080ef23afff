r"""Baseline vs CutMix on the embedded shapes dataset, end to end on a CPU in a few minutes.

  python -m experiments.quickstart --workdir runs/quickstart

Trains configs/quickstart.py twice in one process, with config.mix = "none" and "cutmix"
(workdir/baseline, workdir/cutmix), then prints both test accuracies side by side. Any
config field can be overridden for both runs, e.g. `--config.num_epochs=2`. Re-running
resumes an interrupted run and reuses a finished one (its saved summary).
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from experiments import main as cli
from experiments import train

_DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "quickstart.py")
FLAGS = flags.FLAGS


def define_flags() -> None:
  # Defined after the overrides were checked: a config flag with a default parses them at once.
  flags.DEFINE_string("workdir", "runs/quickstart", "Output directory.")
  config_flags.DEFINE_config_file(
      "config", _DEFAULT_CONFIG,
      "Config shared by both runs (mix is set per run).", lock_config=True)
  flags.DEFINE_list("methods", ["none", "cutmix"], "config.mix of each run.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  results = {}
  for mix in FLAGS.methods:
    config = FLAGS.config.copy_and_resolve_references()
    config.mix = mix
    name = "baseline" if mix == "none" else mix
    print(f"== {name}: {config.model} on {config.dataset}, {config.num_epochs} epochs",
          flush=True)
    results[name] = train.train_and_evaluate(config, os.path.join(FLAGS.workdir, name))
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
        "configs/cifar.py:cifar10,cutmix.)")
  print(f"Metrics: {FLAGS.workdir}/<run>/metrics.jsonl; TensorBoard: "
        f"tensorboard --logdir {FLAGS.workdir}")


if __name__ == "__main__":
  # User errors as one line (exit 2); Ctrl-C saves and prints the command that resumes.
  try:
    cli.check_config_overrides(sys.argv[1:], _DEFAULT_CONFIG)
  except Exception as e:  # pylint: disable=broad-except
    print(f"error: {cli.one_line(e)}", file=sys.stderr)
    sys.exit(cli.USAGE_ERROR)
  define_flags()
  cli.run_main(main, sys.argv, default_config=_DEFAULT_CONFIG)

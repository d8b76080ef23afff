r"""Command line of the trainer: flags, jax.distributed, and user errors as one line.

  python -m experiments.main --config experiments/configs/quickstart.py --workdir runs/q \
      [--config.num_epochs=2 --config.mix=mixup ...]

Any config field can be overridden with --config.<field>=<value>. A user error (a bad config
value, a workdir holding another run, missing data) prints ONE line `error: ...` on stderr and
exits with status 2. Ctrl-C or SIGTERM finish the current step, checkpoint it and print the
command that resumes (exit status 130 / 143). Multi-process: --coordinator_address,
--num_processes, --process_id (or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID,
or config.distributed=True for clusters JAX detects, e.g. SLURM or TPU pods).
"""

import difflib
import importlib.util
import os
import shlex
import signal
import sys

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
from ml_collections import config_flags

from experiments import cifar_reference
from experiments import train
from experiments.eval import metrics
from experiments.train import checkpointing

FLAGS = flags.FLAGS
USAGE_ERROR = 2
# The errors a user can cause with a config, a workdir or missing data.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, FileExistsError,
               metrics.NonFiniteLossError, app.UsageError, flags.Error)


def define_flags() -> None:
  """The CLI flags (defined on demand so that importing this module defines none)."""
  flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
  config_flags.DEFINE_config_file(
      "config", None, "Path to a config file in experiments/configs/.", lock_config=True)
  flags.DEFINE_string(
      "coordinator_address", None, "host:port of process 0 for jax.distributed "
      "(multi-process); with config.distributed=True and no address, JAX detects the cluster.")
  flags.DEFINE_integer("num_processes", None, "Processes in the job.")
  flags.DEFINE_integer("process_id", None, "Index of this process.")


def maybe_initialize_distributed(config, coordinator_address=None, num_processes=None,
                                 process_id=None) -> None:
  """jax.distributed.initialize from flags, the JAX_* environment, or (config.distributed) the
  cluster environment."""
  address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
  if address:
    jax.distributed.initialize(
        coordinator_address=address,
        num_processes=num_processes or int(os.environ["JAX_NUM_PROCESSES"]),
        process_id=(process_id if process_id is not None
                    else int(os.environ["JAX_PROCESS_ID"])))
  elif config.get("distributed", False):
    jax.distributed.initialize()


def check_config_overrides(argv: list[str], default_config: str | None = None) -> None:
  """Raises UsageError naming the valid fields for `--config.<field>` overrides of unknown fields.

  (config_flags itself only raises a bare AttributeError naming the key.)
  """
  path = default_config
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      path = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      path = argv[i + 1]
  if path is None:
    return
  if not os.path.exists(path.split(":", 1)[0]):
    raise app.UsageError(f"config file {path} not found")
  file, _, arg = path.partition(":")
  spec = importlib.util.spec_from_file_location("_config", file)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg) if arg else module.get_config()
  for arg in argv:
    if not arg.startswith("--config."):
      continue
    name = arg[len("--config."):].split("=", 1)[0]
    node, parts = config, name.split(".")
    for depth, part in enumerate(parts):
      fields = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      if part not in fields:
        where = ".".join(parts[:depth]) or "config"
        close = difflib.get_close_matches(part, fields, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise app.UsageError(f"unknown config field {name!r} in {path}.{hint} Fields of "
                             f"{where}: {sorted(fields)}")
      node = node[part]


def resume_command() -> str:
  """The command line that resumes this run (the same module and flags)."""
  module = {"main.py": "experiments.main", "__main__.py": "experiments.train",
            "segmentation.py": "experiments.segmentation",
            "quickstart.py": "experiments.quickstart"}.get(
                os.path.basename(sys.argv[0]), "experiments.main")
  return shlex.join(["python", "-m", module, *sys.argv[1:]])


def exit_interrupted(e: checkpointing.Interrupted) -> None:
  """Prints what was saved and the resume command; exits 128 + signal number."""
  print(f"\n{e}.\nResume with:\n  {resume_command()}", file=sys.stderr, flush=True)
  signum = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}.get(e.reason, signal.SIGTERM)
  sys.exit(128 + int(signum))


def run_main(main, argv: list[str], default_config: str | None = None) -> None:
  """app.run(main), with every user error as one `error: ...` line and exit status 2."""

  def parse(args):
    try:
      check_config_overrides(args[1:], default_config)
      return FLAGS(args)
    except Exception as e:  # pylint: disable=broad-except
      # Config files are Python: any error while loading one is the user's file.
      print(f"error: {one_line(e)}", file=sys.stderr)
      sys.exit(USAGE_ERROR)

  def guarded(args):
    try:
      main(args)
    except checkpointing.Interrupted as e:
      exit_interrupted(e)
    except KeyboardInterrupt:   # Ctrl-C before training started, or a second Ctrl-C.
      print(f"\ninterrupted without saving; rerun to resume from the latest checkpoint, if "
            f"any:\n  {resume_command()}", file=sys.stderr)
      sys.exit(128 + int(signal.SIGINT))
    except USER_ERRORS as e:
      print(f"error: {one_line(e)}", file=sys.stderr)
      sys.exit(USAGE_ERROR)

  app.run(guarded, argv=argv, flags_parser=parse)


def one_line(e: BaseException) -> str:
  text = " ".join(str(e).split()) or type(e).__name__
  return text if not isinstance(e, (KeyError, AttributeError)) else f"{type(e).__name__}: {text}"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.config is None or FLAGS.workdir is None:
    raise app.UsageError("--config and --workdir are required")
  config = FLAGS.config
  if config.get("execution", "single") == "stacked":   # N models at once, in-memory data.
    args = cifar_reference.args_from_config(config, FLAGS.workdir)
    cifar_reference.check(args)
    cifar_reference.run(args)
    return
  train.validate_config(config)
  maybe_initialize_distributed(config, FLAGS.coordinator_address, FLAGS.num_processes,
                               FLAGS.process_id)
  logging.set_verbosity(logging.WARNING)
  summary = train.train_and_evaluate(config, FLAGS.workdir)
  if jax.process_index() == 0:   # Lists (a confusion matrix, IoU per class) stay in summary.json.
    print(metrics.format_summary({k: v for k, v in summary.items()
                                  if not isinstance(v, (list, dict))}))


if __name__ == "__main__":
  define_flags()
  run_main(main, sys.argv)

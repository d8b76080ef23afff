"""A run's workdir: its config, orbax checkpoints (train state + data iterator), stop requests.

Layout of a workdir:
  config.json       the run's config, written once; a rerun with a config that means another
                    run is refused before anything is written (`check_workdir`)
  checkpoints/<step>/{state,data,config}
                    orbax `CheckpointManager` items: the TrainState, the grain iterator's state
                    (one file per process) and the config again; orbax writes each step to a
                    temporary directory and renames it when complete, so a killed run leaves no
                    half-written step
  summary.json      written when the run finished; a rerun returns it without training
"""

import json
import os
import signal
import sys
import threading
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from experiments.configs import default

# Fields that do not change what a run computes: a rerun may change them freely.
NON_RUN_FIELDS = frozenset({
    "data_dir", "eval_batch_size", "log_every_steps", "eval_every_epochs",
    "checkpoint_every_steps", "keep_checkpoints", "save_eval_logits", "progress_bar",
    "distributed"})


class ConfigMismatchError(ValueError):
  """The workdir holds a run whose config differs in fields that change the run."""


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out.update(_flatten(v, f"{prefix}{k}."))
    return out or {prefix[:-1]: {}}
  return {prefix[:-1]: tree}


def config_to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON values (tuples become lists, as they do in config.json)."""
  return json.loads(config.to_json_best_effort())


def differing_fields(saved: dict[str, Any], config: ml_collections.ConfigDict) -> list[str]:
  """Dotted names of the run-defining fields whose values differ (or exist on one side only).

  A field the saved run does not have counts as the same when the new config leaves it at its
  default (configs/default.py): fields added to the trainer later keep older runs resumable.
  """
  old, new = _flatten(saved), _flatten(config_to_dict(config))
  defaults = _flatten(config_to_dict(default.get_config()))
  names = sorted(set(old) | set(new))
  return [n for n in names if n.split(".")[0] not in NON_RUN_FIELDS
          and old.get(n, defaults.get(n, "<absent>")) != new.get(n, "<absent>")]


def check_workdir(workdir: str, config: ml_collections.ConfigDict) -> dict[str, Any] | None:
  """Refuses a workdir that is a file or holds another run; returns its summary if it finished.

  Reads only: nothing in the workdir is created or changed.
  """
  existing = os.path.abspath(workdir)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    where = "" if existing == os.path.abspath(workdir) else f" ({existing} is one)"
    raise NotADirectoryError(f"workdir {workdir} is a file, not a directory{where}")
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    saved = json.load(f)
  diff = differing_fields(saved, config)
  if diff:
    old, new = _flatten(saved), _flatten(config_to_dict(config))
    changes = ", ".join(f"{n} ({old.get(n, '<absent>')!r} -> {new.get(n, '<absent>')!r})"
                        for n in diff)
    raise ConfigMismatchError(
        f"workdir {workdir} holds a run with another config: {changes}; use a new --workdir "
        f"(or delete this one) to train this config")
  summary = os.path.join(workdir, "summary.json")
  if os.path.exists(summary):
    with open(summary) as f:
      return json.load(f)
  return None


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Writes workdir/config.json once (a resumed run keeps the original file)."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    with open(path, "w") as f:
      f.write(config.to_json_best_effort(indent=2))


def manager(workdir: str, keep: int) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), "checkpoints"),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           enable_async_checkpointing=True))


def save(mngr: ocp.CheckpointManager, step: int, state: Any, data_iter: Any,
         config: ml_collections.ConfigDict) -> None:
  """Saves the train state, the data iterator's position and the config at `step` (async)."""
  if step in mngr.all_steps():
    return
  items = {"state": ocp.args.StandardSave(state),
           "config": ocp.args.JsonSave(config_to_dict(config))}
  import grain  # Deferred: a host without grain (a lent GPU) still imports the train step.
  items["data"] = grain.checkpoint.CheckpointSave(data_iter)
  mngr.save(step, args=ocp.args.Composite(**items))


def restore(mngr: ocp.CheckpointManager, state: Any, data_iter: Any) -> Any:
  """`state` (and the iterator's position) from the latest checkpoint; `state` if there is none."""
  step = mngr.latest_step()
  if step is None:
    return state
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
  items = {"state": ocp.args.StandardRestore(abstract)}
  step_dir = os.path.join(str(mngr.directory), str(step))
  if os.path.isdir(os.path.join(step_dir, "data")):
    import grain  # Deferred, as in save.
    items["data"] = grain.checkpoint.CheckpointRestore(data_iter)
  return mngr.restore(step, args=ocp.args.Composite(**items))["state"]


def load_numpy(directory: str, step: int | None = None) -> Any:
  """The checkpointed TrainState at `step` (default latest) as a pytree of NumPy arrays.

  Works whatever device count wrote it (arrays are restored onto one local device).
  """
  directory = os.path.abspath(directory)
  if step is None:
    steps = [int(p) for p in os.listdir(directory) if p.isdigit()]
    if not steps:
      raise FileNotFoundError(f"no checkpoint in {directory}")
    step = max(steps)
  path = os.path.join(directory, str(step), "state")
  with ocp.StandardCheckpointer() as ckptr:
    meta = ckptr.metadata(path)
    meta = getattr(meta, "item_metadata", meta)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree_util.tree_map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), meta)
    tree = ckptr.restore(path, abstract)
  return jax.tree_util.tree_map(np.asarray, tree)


class Interrupted(Exception):
  """Training stopped on a signal or preemption notice after checkpointing `step`."""

  def __init__(self, reason: str, step: int, total_steps: int, workdir: str):
    super().__init__(f"{reason}: saved step {step} of {total_steps} in {workdir}")
    self.reason, self.step, self.total_steps, self.workdir = reason, step, total_steps, workdir


class StopRequests:
  """SIGINT (Ctrl-C) / SIGTERM → stop after the current step; plus orbax's preemption notice.

  In a single process the handlers set a flag that the loop polls between steps; a second
  Ctrl-C aborts at once. With several processes a signal on one host must not stop only that
  host (the others would hang in the next collective), so there only orbax's
  `reached_preemption` counts: JAX's preemption service agrees on one step for all hosts.
  """

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self, mngr: ocp.CheckpointManager):
    self._mngr = mngr
    self.reason = None
    self._previous = {}
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)

  def _handle(self, signum, frame):
    del frame
    self.reason = signal.Signals(signum).name
    print(f"\n{self.reason}: finishing the current step and saving a checkpoint "
          "(Ctrl-C again aborts without saving)", file=sys.stderr, flush=True)
    signal.signal(signum, self._previous[signum])

  def __call__(self, step: int) -> str | None:
    """The reason to stop after `step`, or None."""
    if self.reason is None and self._mngr.reached_preemption(step):
      self.reason = "preemption"
    return self.reason

  def restore(self) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}

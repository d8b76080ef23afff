"""Orbax checkpoints of the train state: atomic, last N kept, resume from the latest.

Orbax writes each step into a temporary directory and renames it when complete, so a
process killed mid-save leaves no half-written step behind: `latest_step` only sees
finished ones. Saving is asynchronous (training continues while files are written);
`wait()` blocks until the pending save is durable.
"""

import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class Checkpointer:
  """Thin wrapper over ocp.CheckpointManager for one pytree item (the TrainState)."""

  def __init__(self, directory: str, keep: int = 3, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    self._mngr = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True,
            enable_async_checkpointing=async_save))

  def latest_step(self) -> int | None:
    return self._mngr.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._mngr.all_steps())

  def save(self, step: int, state: Any) -> None:
    if step in self._mngr.all_steps():
      return
    self._mngr.save(step, args=ocp.args.StandardSave(state))

  def restore_latest(self, state: Any) -> Any:
    """`state` restored from the latest step (same shardings/dtypes), or `state` itself."""
    step = self._mngr.latest_step()
    if step is None:
      return state
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
    return self._mngr.restore(step, args=ocp.args.StandardRestore(abstract))

  def wait(self) -> None:
    self._mngr.wait_until_finished()

  def close(self) -> None:
    self._mngr.close()


def load_numpy(directory: str, step: int | None = None) -> Any:
  """The checkpointed pytree at `step` (default latest) as NumPy arrays.

  Works whatever device count wrote it (arrays are restored onto one local device).
  """
  directory = os.path.abspath(directory)
  if step is None:
    steps = [int(p) for p in os.listdir(directory) if p.isdigit()]
    if not steps:
      raise FileNotFoundError(f"No checkpoint in {directory}")
    step = max(steps)
  path = os.path.join(directory, str(step), "default")
  with ocp.StandardCheckpointer() as ckptr:
    meta = ckptr.metadata(path)
    meta = getattr(meta, "item_metadata", meta)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree_util.tree_map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), meta)
    tree = ckptr.restore(path, abstract)
  return jax.tree_util.tree_map(np.asarray, tree)

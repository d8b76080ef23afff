"""The train state (pure pytrees: what a checkpoint holds) and how a model becomes one."""

from typing import Any

from flax import nnx
import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  step: jax.Array        # int32 scalar: number of optimizer updates applied.
  params: Any            # pure dict of float32 arrays.
  batch_stats: Any       # pure dict: BatchNorm running mean / var.
  opt_state: Any


def from_model(model: nnx.Module, tx: optax.GradientTransformation):
  """(train graphdef, eval graphdef, TrainState at step 0) of a freshly built model.

  The graphdefs differ only in BatchNorm's `use_running_average` (train vs eval mode).
  """
  model.train()
  train_graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  model.eval()
  eval_graphdef, _, _ = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, batch_stats = nnx.to_pure_dict(params), nnx.to_pure_dict(batch_stats)
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     batch_stats=batch_stats, opt_state=tx.init(params))
  return train_graphdef, eval_graphdef, state


def num_params(state: TrainState) -> int:
  return int(sum(x.size for x in jax.tree_util.tree_leaves(state.params)))

"""One optimizer update, the same for every task: prepare → model → soft cross-entropy → SGD.

The task's `prepare(key, batch, step) -> (inputs, targets)` is where jaxmix mixes (classification:
`augment.make_augment_fn`; segmentation: the dense mix of `train.segmentation`); its targets are
rows of class probabilities (per image or per pixel), so one loss serves both.
"""

from collections.abc import Callable, Mapping

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.train import augment
from experiments.train.state import TrainState

# (key, batch, step) -> (normalized float inputs, float target rows summing to 1).
Prepare = Callable[[jax.Array, Mapping[str, jax.Array], jax.Array], tuple[jax.Array, jax.Array]]


def train_step(state: TrainState, batch: Mapping[str, jax.Array], mix_key: jax.Array, *,
               graphdef, tx, prepare: Prepare):
  """One SGD update; returns the new state and this step's {"loss", "accuracy"}."""
  key = jax.random.fold_in(mix_key, state.step)
  inputs, targets = prepare(key, batch, state.step)

  def loss_fn(params):
    model = nnx.merge(graphdef, params, state.batch_stats)
    logits = model(inputs)
    loss = optax.softmax_cross_entropy(logits, targets).mean()
    return loss, (logits, nnx.to_pure_dict(nnx.state(model, nnx.BatchStat)))

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = TrainState(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                         batch_stats=batch_stats, opt_state=opt_state)
  # Accuracy against the dominant class of the (mixed) target rows (per image or per pixel).
  accuracy = jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(targets, -1))
  return new_state, {"loss": loss, "accuracy": accuracy}


def eval_logits(params, batch_stats, images, *, graphdef, mean, std) -> jax.Array:
  """Logits in eval mode (running BatchNorm statistics, which are not updated)."""
  return nnx.merge(graphdef, params, batch_stats)(augment.normalize(images, mean, std))


def shard_batch(batch: Mapping[str, np.ndarray], sharding,
                features=("image", "label")) -> dict[str, jax.Array]:
  """This process's slice of the global batch → global arrays sharded on the batch axis
  (`features` and, in eval batches, "mask")."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items() if k in features or k == "mask"}

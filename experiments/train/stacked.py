"""N models at once on one device: an execution mode of the trainer, not a second program.

The models' TrainStates are stacked on a leading model axis and one jitted step updates all of
them, with the trainer's own `step.train_step` and the classification task's `prepare`
(`augment.make_augment_fn`; each model picks its method's with `lax.switch`). `stacking` says
how: "vmap" batches the M models into one step (XLA turns their convolutions into grouped ones);
"scan" runs them one after another inside the step (dense convolutions, one compiled model).
The data are in-memory arrays (a lent GPU machine has no TFDS): batches are index arrays into
them, a permutation per seed and epoch, with crop + flip on device. Same seed = same init,
batch order, crop/flip and mixing draws, as `loop.train_and_evaluate` splits its key.
"""

import functools
import time

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from experiments.eval import metrics
from experiments.train import augment
from experiments.train import classification
from experiments.train import optim
from experiments.train import state as state_lib
from experiments.train import step as step_lib


def crop_and_flip(key: jax.Array, images: jax.Array, pad: int = 4) -> jax.Array:
  """Zero-pad by `pad`, take a random H×W window, mirror half: `data.pipeline.crop_and_flip`
  on device, with the offsets and flips drawn from `key`."""
  b, h, w, c = images.shape
  offset_key, flip_key = jax.random.split(key)
  offsets = jax.random.randint(offset_key, (b, 2), 0, 2 * pad + 1)
  flips = jax.random.bernoulli(flip_key, 0.5, (b,))
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))

  def one(image, offset, flip):
    crop = jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))
    return jnp.where(flip, crop[:, ::-1], crop)
  return jax.vmap(one)(padded, offsets, flips)


def warmup_cosine(peak: float, warmup_steps: int, total_steps):
  """`optim.make_schedule`'s cosine (optax.warmup_cosine_decay_schedule from 0 to `peak` and
  back to 0) with `total_steps` allowed to be a traced value, so the epochs can be chosen after
  the step is compiled."""
  def schedule(count):
    count = jnp.asarray(count, jnp.float32)
    warm = peak * count / max(warmup_steps, 1)
    decay = jnp.maximum(jnp.asarray(total_steps, jnp.float32) - warmup_steps, 1.0)
    frac = jnp.clip((count - warmup_steps) / decay, 0.0, 1.0)
    return jnp.where(count < warmup_steps, warm, 0.5 * peak * (1.0 + jnp.cos(jnp.pi * frac)))
  return schedule



STACKINGS = ("vmap", "scan")


def make_train_step(configs, info, graphdef, steps_per_epoch: int, stacking: str = "vmap",
                    mix_total_steps: int | None = None):
  """jit(step)(states, images, labels, epoch_idx, i, crop_keys, mix_keys, methods, total_steps).

  Stacked models m = 0..M-1 train on images[epoch_idx[i, m]] with their own crop key, mix key
  and method index (into `configs`' order: one `lax.switch` branch per config, so configs that
  differ only in their mix settings, e.g. CutMix α or prob, are stacked like methods).
  `stacking`: "vmap" batches the M models into one step (XLA turns their convolutions into
  grouped ones); "scan" runs them one after another inside the step (dense convolutions, one
  compiled model). `mix_total_steps`: the run's length, needed (static) by configs that switch
  mixing off for their last epochs (`mix_off_last_epochs`); it must equal `total_steps`.
  """
  if stacking not in STACKINGS:
    raise ValueError(f"stacking must be one of {STACKINGS}, got {stacking!r}")
  config = next(iter(configs.values()))
  warmup = int(round(config.warmup_epochs * steps_per_epoch))
  augments = [augment.make_augment_fn(c, info, total_steps=mix_total_steps,
                                      steps_per_epoch=steps_per_epoch)
              for c in configs.values()]

  def augment_by_method(method, key, images, labels, step=None):
    # Every branch takes the step; only a config with a mixing schedule reads it.
    return jax.lax.switch(method, augments, key, images, labels, step)

  def step(states, images, labels, epoch_idx, i, crop_keys, mix_keys, methods, total_steps):
    idx = jax.lax.dynamic_index_in_dim(epoch_idx, i, keepdims=False)          # [M, B]
    global_step = states.step[0]
    batch_images = jax.vmap(crop_and_flip)(
        jax.vmap(jax.random.fold_in, (0, None))(crop_keys, global_step), images[idx])
    tx = optim.make_optimizer(config, warmup_cosine(config.learning_rate, warmup, total_steps))

    def one(state, image, label, mix_key, method):
      return step_lib.train_step(state, {"image": image, "label": label}, mix_key,
                                 graphdef=graphdef, tx=tx,
                                 prepare=classification.prepare_from(
                                     functools.partial(augment_by_method, method)))
    per_model = (states, batch_images, labels[idx], mix_keys, methods)
    if stacking == "vmap":
      return jax.vmap(one)(*per_model)
    _, out = jax.lax.scan(lambda carry, xs: (carry, one(*xs)), None, per_model)
    return out

  return jax.jit(step)


def init_states(configs, info, seeds):
  """(train graphdef, eval graphdef, stacked TrainState, per-model mix keys, crop keys, method
  ids, run names); models are method-major, seed-minor, and a seed's models share init."""
  return init_models(configs, info, [(method, seed) for method in configs for seed in seeds])


def init_models(configs, info, names, create_model=classification.create_model):
  """`init_states` for any list of (config key, seed) models, in that order (e.g. a device
  call's share of a study); a seed's models share init, crops and batch order.
  `create_model(config, info, key)`: the task's (`train.segmentation.create_model` for U-Nets)."""
  unknown = sorted({key for key, _ in names} - set(configs))
  if unknown:
    raise ValueError(f"names must use the keys of configs {list(configs)}, got {unknown}")
  config = next(iter(configs.values()))
  tx = optim.make_optimizer(config, warmup_cosine(config.learning_rate, 1, 2))
  index = {key: i for i, key in enumerate(configs)}
  states, mix_keys, crop_keys = [], [], []
  for _, seed in names:
    # As loop.train_and_evaluate splits it: init and mix keys from the seed.
    init_key, mix_key = jax.random.split(jax.random.key(seed))
    graphdef, eval_graphdef, state = state_lib.from_model(
        create_model(config, info, init_key), tx)
    states.append(state)
    mix_keys.append(mix_key)
    crop_keys.append(jax.random.fold_in(jax.random.key(seed), 1))
  stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
  return (graphdef, eval_graphdef, stacked, jnp.stack(mix_keys), jnp.stack(crop_keys),
          jnp.asarray([index[key] for key, _ in names], jnp.int32), list(names))


def epoch_batches(names, epoch: int, num_train: int, batch_size: int) -> np.ndarray:
  """int32 [steps, M, B]: each model's batches of `epoch`, a permutation fixed by its seed."""
  steps = num_train // batch_size
  per_seed = {seed: np.random.default_rng([seed, epoch]).permutation(num_train)[
      :steps * batch_size].reshape(steps, batch_size) for seed in {s for _, s in names}}
  return np.stack([per_seed[seed] for _, seed in names], axis=1).astype(np.int32)


def run_step(step_fn, images, labels, crop_keys, mix_keys, method_ids, states, epoch_idx, i,
             total_steps):
  return step_fn(states, images, labels, epoch_idx, jnp.int32(i), crop_keys, mix_keys,
                 method_ids, jnp.int32(total_steps))


def choose_epochs(seconds_per_step: float, steps_per_epoch: int, budget_s: float,
                  max_epochs: int) -> int:
  """The most whole epochs whose training fits `budget_s` (at least 1, at most `max_epochs`)."""
  return int(max(1, min(max_epochs, budget_s // (seconds_per_step * steps_per_epoch))))


def probe_stackings(configs, info, stackings, graphdef, states, steppers_args, idx,
                    steps_per_epoch: int, log=print, mix_total_steps: int | None = None):
  """({stacking: stepper}, {stacking: {"compile_s", "ms_per_step"}}): each candidate compiled
  and timed for 20 steps on a throwaway copy of the initial models."""
  probes, steppers = {}, {}
  for stacking in stackings:
    step_fn = make_train_step(configs, info, graphdef, steps_per_epoch, stacking,
                              mix_total_steps)
    steppers[stacking] = functools.partial(run_step, step_fn, *steppers_args)
    t0 = time.perf_counter()
    probe = jax.block_until_ready(steppers[stacking](states, idx, 0, steps_per_epoch))[0]
    compile_s = time.perf_counter() - t0
    n_probe = min(20, steps_per_epoch)
    t0 = time.perf_counter()
    for i in range(n_probe):
      probe, _ = steppers[stacking](probe, idx, i, steps_per_epoch)
    jax.block_until_ready(probe)
    probes[stacking] = {"compile_s": compile_s,
                        "ms_per_step": 1e3 * (time.perf_counter() - t0) / n_probe}
    log(f"{stacking}: compiled in {compile_s:.0f}s, {probes[stacking]['ms_per_step']:.1f} ms "
        f"per step of {len(states.step)} models")
  return steppers, probes


def train_epochs(stepper, states, names, *, epochs: int, num_train: int, batch_size: int,
                 log=print):
  """Trains every stacked model for `epochs`; returns (states, per-epoch history of [M] means)."""
  steps_per_epoch = num_train // batch_size
  total_steps, history, t0 = epochs * steps_per_epoch, [], time.perf_counter()
  for epoch in range(epochs):
    idx = jnp.asarray(epoch_batches(names, epoch, num_train, batch_size))
    step_metrics = []
    for i in range(steps_per_epoch):
      states, out = stepper(states, idx, i, total_steps)
      step_metrics.append(out)
    means = jax.tree_util.tree_map(lambda *xs: np.mean(np.stack(xs), axis=0),
                                   *jax.device_get(step_metrics))
    if not np.all(np.isfinite(means["loss"])):
      raise metrics.NonFiniteLossError(f"non-finite training loss in epoch {epoch + 1}: "
                                       f"{dict(zip(names, means['loss']))}",
                                       (epoch + 1) * steps_per_epoch)
    history.append({"epoch": float(epoch + 1), "train_loss": means["loss"],
                    "train_accuracy": means["accuracy"]})
    log(f"epoch {epoch + 1}/{epochs}: {time.perf_counter() - t0:.0f}s, train accuracy "
        + " ".join(f"{a:.3f}" for a in means["accuracy"]))
  return states, history


def eval_fn(eval_graphdef, info):
  """jit(logits of every stacked model)(params, batch_stats, images [N, ...]) -> [M, N, K]."""
  one = functools.partial(step_lib.eval_logits, graphdef=eval_graphdef, mean=info.mean,
                          std=info.std)
  return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))


def class_maps_fn(eval_graphdef, info):
  """jit(class activation maps of every stacked model)(params, batch_stats, images [N, ...])
  -> float32 [M, N, h, w, K]: the head applied at every position of the last feature map
  (`ResNet.features`), whose mean over (h, w) is the logits (Zhou et al. 2016)."""
  mean, std = tuple(info.mean), tuple(info.std)

  def one(params, batch_stats, images):
    model = nnx.merge(eval_graphdef, params, batch_stats)
    return model.head(model.features(augment.normalize(images, mean, std))).astype(jnp.float32)
  return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))

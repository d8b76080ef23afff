"""The learning-rate schedule and the optimizer every task trains with (optax)."""

import jax
import optax

SCHEDULES = ("cosine", "multistep")


def make_schedule(config, steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Cosine decay to 0 with linear warmup, or multi-step decay."""
  warmup = int(round(config.warmup_epochs * steps_per_epoch))
  if config.schedule == "cosine":
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=config.learning_rate, warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1), end_value=0.0)
  boundaries = {int(e * steps_per_epoch): config.lr_decay_factor
                for e in config.lr_boundaries_epochs}
  schedule = optax.piecewise_constant_schedule(config.learning_rate, boundaries)
  if warmup:
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, config.learning_rate, warmup), schedule], [warmup])
  return schedule


def make_optimizer(config, schedule: optax.Schedule) -> optax.GradientTransformation:
  """SGD with (Nesterov) momentum and L2 weight decay on conv/dense kernels only.

  Decay is coupled (added to the gradient before momentum) as in torch.optim.SGD; it skips
  BatchNorm scales/offsets and biases (arrays with ndim <= 1).
  """
  decay_mask = lambda params: jax.tree_util.tree_map(lambda p: p.ndim > 1, params)
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay, mask=decay_mask),
      optax.sgd(schedule, momentum=config.momentum, nesterov=config.nesterov))

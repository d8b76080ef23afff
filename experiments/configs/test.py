"""Tiny config for the tests: shapes dataset, small ResNet at width 4, a few steps."""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.dataset = "shapes"
  config.model = "resnet_small"
  config.model_kwargs.width = 4
  config.batch_size = 16
  config.eval_batch_size = 64
  config.mix = "cutmix"
  config.learning_rate = 0.05
  config.num_train_steps = 12
  config.log_every_steps = 2
  config.checkpoint_every_steps = 4
  config.eval_every_epochs = 1
  config.progress_bar = False
  return config

"""CPU quickstart: small ResNet on the embedded shapes dataset (a few minutes on 2 cores).

4 epochs of 10k 32x32 images; both runs together take a few minutes on 2 idle CPU cores
(README.md gives a measured run). Such a short schedule favours the baseline: CutMix
regularizes, and its accuracy gains appear in long schedules (hundreds of epochs).

Used twice by `python -m experiments.quickstart` (mix=none and mix=cutmix).
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.dataset = "shapes"
  config.model = "resnet_small"
  config.batch_size = 128
  config.eval_batch_size = 500
  config.mix = "cutmix"          # experiments/quickstart.py runs "none" and "cutmix".
  config.mix_prob = 0.5          # CutMix's CIFAR setting: half of the batches.
  config.learning_rate = 0.2
  config.weight_decay = 5e-4
  config.warmup_epochs = 0.25
  config.num_epochs = 4
  config.log_every_steps = 20
  config.checkpoint_every_steps = 500
  return config

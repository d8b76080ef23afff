"""ImageNet ResNet-50 + CutMix, the CutMix paper's ImageNet setting (Yun et al. 2019, Table 3).

300 epochs, batch 256, lr 0.1 decayed x0.1 at epochs 75/150/225, weight decay 1e-4,
CutMix α = 1 on every batch. Needs an `imagenet2012` dataset in the input pipeline and an
accelerator; bf16 activations. Scale learning_rate linearly if you change batch_size.
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.dataset = "imagenet2012"
  config.model = "resnet50"
  config.half_precision = True
  config.batch_size = 256
  config.eval_batch_size = 250
  config.mix = "cutmix"
  config.cutmix_alpha = 1.0
  config.mix_prob = 1.0
  config.learning_rate = 0.1
  config.weight_decay = 1e-4
  config.schedule = "multistep"
  config.lr_boundaries_epochs = (75, 150, 225)
  config.num_epochs = 300
  config.checkpoint_every_steps = 5000
  return config

"""Base configuration: every field the trainer reads, with CIFAR-10 ResNet-18 defaults.

Other configs call `get_config()` here and change only what differs, so that a run is
described by a short diff against this file. Override any field on the command line:
  python -m experiments.main --config experiments/configs/default.py \
      --workdir runs/x --config.num_epochs=2 --config.mix=cutmix
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  # What is learned (experiments/train/tasks.py); configs/segmentation.py sets "segmentation".
  config.task = "classification"

  # Data (experiments/data/pipeline.py).
  config.dataset = "cifar10_jpeg"
  # None: the input pipeline's default cache; a placeholder so that --config.data_dir=DIR works.
  config.data_dir = ml_collections.config_dict.placeholder(str)
  config.train_size = 0         # > 0: a class-balanced subset of the train split (0: all).
  config.holdout_size = 0       # train examples held out of training (data/registry.py).
  config.augment = True         # random crop + flip in train_batches.
  config.batch_size = 128       # global, over all processes and devices.
  config.eval_batch_size = 500

  # Model (experiments/models/).
  config.model = "resnet18"
  config.model_kwargs = ml_collections.ConfigDict()  # e.g. width=8 (constructor kwargs)
  config.half_precision = False  # bf16 activations, f32 params and logits.

  # Regularization applied inside the train step (jaxmix).
  #   none | cutout | mixup | cutmix | mix (timm policy: mixup or cutmix per batch)
  #   | resizemix | saliencymix | fmix | gridmix | smoothmix (jaxmix.OPS; options in mix_kwargs).
  config.mix = "none"
  config.mixup_alpha = 1.0
  config.cutmix_alpha = 1.0
  config.mix_prob = 1.0          # probability of mixing a batch / pair / element.
  config.switch_prob = 0.5       # mix: probability of CutMix instead of Mixup.
  config.mix_mode = "batch"      # batch | pair | elem (one λ per batch / pair / image).
  config.mix_partner = "flip"    # flip | roll | permute.
  config.correct_lam = True      # λ from the clipped box area (CutMix paper).
  config.mix_num_shards = -1     # -1: jax.device_count() (partners stay on-device).
  config.cutout_size = 16
  config.label_smoothing = 0.0
  config.cutmix_minmax = ()      # (lo, hi): timm's min/max box side fractions instead of α.
  config.mix_off_last_epochs = 0.0   # mixing switched off for the last K epochs (0: never).
  # resizemix | saliencymix | fmix | gridmix | smoothmix take α from cutmix_alpha; any other option of
  # jaxmix.OPS[mix] goes here, in a config file (e.g. config.mix_kwargs.decay_power = 2.0).
  config.mix_kwargs = ml_collections.ConfigDict()

  # Optimization: SGD + Nesterov, L2 weight decay on conv/dense kernels only.
  config.optimizer = "sgd"
  config.learning_rate = 0.1
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 5e-4
  config.schedule = "cosine"     # cosine (with linear warmup) | multistep.
  config.warmup_epochs = 0.0
  config.lr_boundaries_epochs = (100, 150)   # multistep only.
  config.lr_decay_factor = 0.1               # multistep only.
  config.num_epochs = 200
  config.num_train_steps = -1    # > 0 overrides num_epochs (handy for tests/benchmarks).

  # Loop.
  config.seed = 0
  config.log_every_steps = 50
  config.eval_every_epochs = 1
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 3
  config.save_eval_logits = True  # final eval logits/labels to workdir/eval_logits.npz.
  config.progress_bar = True
  config.distributed = False      # call jax.distributed.initialize() (multi-host).
  return config

"""Segmentation of the shapes dataset (task: experiments/train/segmentation.py): U-Net, CutMix
α = 1, p = 0.5. CutMix's spatial-coherence failure case, measured.

  python -m experiments.main --config experiments/configs/segmentation.py \
      --workdir runs/seg --config.method=cutmix_consistent

The fields the segmentation task reads; the optimizer fields mean what they mean in
configs/default.py (SGD + Nesterov, cosine schedule with warmup, weight decay on kernels).

The task (`config.targets`, `dense_targets`): every pixel is labelled from the image's object mask,
either "object" (2 classes: background 0, object 1) or "shape" (11 classes: background 0 and
1 + label on the object, i.e. semantic segmentation). The study uses "object", and here is why.
Both show the failure: CutMix on the images only leaves (a) the pasted partner object labelled
background and (b) the covered part of the image's own object still labelled object. With 11
classes the pasted object would also carry a wrong class, but on the CPU budget of the study
(≤ 5 min a run) the U-Net does not learn the shape classes at all: after 5 epochs without mixing
it predicts one class for every object (mIoU 0.10, object IoU 0.58; 2026-11-25, 2 busy cores),
so the "what" error would swamp the "where" error the study is about. With 2 classes it learns
where the objects are within an epoch, and every mIoU difference is about spatial coherence.
"shape" stays available for a longer run (e.g. on a GPU).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.task = "segmentation"

  # Data: shapes, whose every image carries its object mask.
  config.dataset = "shapes"
  config.data_dir = ml_collections.config_dict.placeholder(str)
  config.train_size = 0          # > 0: a class-balanced subset of the train split (0: all).
  config.augment = True          # pad-4 crop + flip, the same window for images and masks.
  config.batch_size = 64
  config.eval_batch_size = 500

  # Per-pixel classes: "object" (object / background) or "shape" (background + the 10 shapes,
  # 11 classes; needs more compute than a CPU run has: see above).
  config.targets = "object"

  # Model (experiments/models/unet.py).
  config.model = "unet"
  config.model_kwargs = ml_collections.ConfigDict({"widths": (8, 16, 32, 64)})

  # Mixing: none | cutmix_images_only | cutmix_consistent | mixup_images_only | mixup_consistent.
  config.method = "none"
  config.mix_alpha = 1.0
  config.mix_prob = 0.5          # per image
  config.mix_partner = "flip"

  # Optimization.
  config.optimizer = "sgd"
  config.learning_rate = 0.05
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 5e-4
  config.schedule = "cosine"
  config.warmup_epochs = 0.5
  config.lr_boundaries_epochs = ()   # multistep only.
  config.lr_decay_factor = 0.1
  config.num_epochs = 5
  config.num_train_steps = -1    # > 0 overrides num_epochs.

  # Loop.
  config.seed = 0
  config.log_every_steps = 50
  config.eval_every_epochs = 1
  config.checkpoint_every_steps = 200
  config.keep_checkpoints = 2
  config.progress_bar = True     # one line per eval on stdout.
  return config

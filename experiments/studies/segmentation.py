"""Segmentation of shapes: CutMix on the images only vs on images and masks alike (issue 8, item 7).

CutMix is said to falter where spatial coherence matters. Here a small U-Net labels every pixel of
the embedded shapes dataset (object or background) and is trained without mixing, with CutMix on
the images only (target maps left as they were: a pasted object labelled background, the covered
part of the image's own object still labelled object), with CutMix on images and maps consistently
(jaxmix dense targets), and with Mixup on both (soft per-pixel rows). Reported: test mIoU, pixel
accuracy and object IoU per method, and the paired difference to no mixing (same seed = same init,
data order and mixing draws).

Why object / background and not the 11 shape classes: see experiments/configs/segmentation.py.
Compute: U-Net widths (8, 16, 32, 64), 0.13M parameters; all 10,000 train images, 5 epochs of
batch 64 (780 steps, 50k images); eval on the 2,000 test images after each epoch. One run
(cutmix_images_only, seed 0, through this runner): 283 s wall, ~215 train images/s, on the
project's 2-core CPU machine while other jobs kept its load average at 8-11 (2026-11-25); so
about 1 h for the 12 runs, less on an idle machine.
  python -m experiments.study segmentation
"""

import jax.numpy as jnp
import numpy as np

from experiments import studies
from experiments.configs import segmentation as seg_config
from experiments.eval import inference
from experiments.eval import metrics
from experiments.studies import _common
from experiments.train import segmentation as seg_task

METHODS = ("none", "cutmix_images_only", "cutmix_consistent", "mixup_consistent")
SEEDS = (0, 1, 2)


def method_config(method: str, **overrides):
  config = seg_config.get_config()
  config.method = method
  config.progress_bar = False
  for key, value in overrides.items():
    config[key] = value
  return config


def train_fit(run, workdir: str, summary) -> dict:
  """The final model's mIoU (and pixel accuracy, object IoU) on its own training images,
  un-augmented, in eval mode: the segmentation studies' measure of fitting."""
  del run, summary
  trained = inference.load_trained(workdir)
  c = trained.config
  arrays, rows = _common.train_arrays(c)
  predict = lambda images: jnp.argmax(trained.logits_fn(images), -1)
  predicted = inference.in_batches(predict, arrays["image"][rows])
  truth = seg_task.dense_targets(arrays[seg_task.MASK_FEATURE][rows], arrays["label"][rows],
                                 c.targets)
  num_classes = seg_task.num_dense_classes(c.targets, trained.info.num_classes)
  confusion = metrics.confusion_matrix(truth, predicted, np.ones(len(rows), bool), num_classes)
  m = metrics.segmentation_metrics(np.asarray(confusion))
  return {"train_fit": {"miou": m["miou"], "pixel_accuracy": m["pixel_accuracy"],
                        "object_iou": m["object_iou"], "images": int(len(rows))}}


STUDY = studies.Study(
    name="segmentation",
    question="Does CutMix hurt segmentation when the masks are not mixed with the images, "
             "and does mixing them consistently remove the harm?",
    # Seed-major: every method of seed 0 first, so a partial study already compares them.
    runs=[run for seed in SEEDS for method in METHODS
          for run in studies.seeds(lambda m=method: method_config(m), method, [seed],
                                   method=method)],
)

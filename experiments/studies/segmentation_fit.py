"""Issue 19, claim 7 where the baseline fits: the `segmentation` study on a training set the
U-Net can fit.

`segmentation` trains 5 epochs on all 10k shapes images, and its fit is not measured. Here the
same U-Net (widths 8-64, 0.13M parameters) and methods train on a class-balanced 2,500-image
subset for 60 epochs (2,340 steps of 64; 150k images, ~5.5 min a run on 2 idle cores), and
every run's final model is scored on its own training images, un-augmented
(`segmentation.train_fit`): the regime fits when the no-mixing baseline's train mIoU is >= 95%
(mean of seeds). Probes (no mixing, seed 0, 2026-12-03): 30 epochs of 2.5k reach a train mIoU
of 91.6% and 100 epochs of 500 images 86.6% (both too few steps), 60 epochs of 2.5k 97.5%.
Evaluated on the 2,000 test images. 4 methods x 3 seeds.
"""

from experiments import studies
from experiments.studies import segmentation

SEEDS = (0, 1, 2)
REGIME = dict(train_size=2500, num_epochs=60, eval_every_epochs=20)


STUDY = studies.Study(
    name="segmentation_fit",
    question="Where the U-Net fits its training set, does CutMix on the images only hurt "
             "segmentation, and does mixing the masks consistently remove the harm?",
    runs=[run for seed in SEEDS for method in segmentation.METHODS
          for run in studies.seeds(lambda m=method: segmentation.method_config(m, **REGIME),
                                   method, [seed], method=method)],
    analyze=segmentation.train_fit,
)

"""The one trainer reproduces, to the last bit, the final metrics of the trainers it replaced.

The expected numbers below were made ONCE by the pre-refactor code (commit ce69b0e, where
classification ran in experiments/train.py and segmentation in experiments/segmentation.py):

  git worktree add /tmp/old ce69b0e && cd /tmp/old && JAX_PLATFORMS=cpu \
    python -m experiments.main --config experiments/configs/test.py --workdir W1 --config.mix=none
  JAX_PLATFORMS=cpu python -m experiments.segmentation \
    --config experiments/configs/segmentation.py --workdir W2 --config.method=none \
    --config.model_kwargs.widths="(4,8)" --config.train_size=160 --config.batch_size=16 \
    --config.num_train_steps=6 --config.checkpoint_every_steps=2 --config.log_every_steps=2 \
    --config.eval_batch_size=1000 --config.progress_bar=False

on an AMD EPYC with AVX-512 (jax 0.10.2, one CPU device). No mixing, so the numbers do not
depend on jaxmix's random stream. XLA compiles for the processor it runs on, so another CPU
(e.g. AVX2 only) gives other bits from both the old and the new code: there the test is skipped.
"""

import jax
import pytest

from experiments import study
from experiments import train
from experiments.configs import segmentation as seg_config
from experiments.configs import test as test_config

MADE_ON = {"cpu_model": "AMD EPYC",
           "cpu_isa": ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"]}
CLASSIFICATION = {"steps": 12, "params": 5214, "eval_accuracy": 0.0905, "eval_top5": 0.5035,
                  "eval_nll": 2.339858154296875, "eval_ece": 0.05398599280416966,
                  "best_eval_accuracy": 0.0905, "train_loss": 2.3217397133509317}
SEGMENTATION = {"steps": 6, "params": 1918, "eval_miou": 0.4109481884189536,
                "eval_pixel_accuracy": 0.65380908203125, "eval_object_iou": 0.20114588967009195,
                "class_iou": [0.6207504871678152, 0.20114588967009195],
                "confusion": [[1160480, 542210], [166789, 178521]],
                "train_loss": 0.8297194043795267}

pytestmark = pytest.mark.skipif(
    study.cpu_info() != MADE_ON or jax.device_count() != 1 or jax.default_backend() != "cpu",
    reason="the expected bits were made on another processor (see the module docstring)")


def _final(summary, expected):
  return {k: summary[k] for k in expected}


def test_classification_without_mixing_reproduces_the_old_trainer(tmp_path):
  config = test_config.get_config()
  config.mix = "none"
  assert _final(train.train_and_evaluate(config, str(tmp_path)), CLASSIFICATION) == CLASSIFICATION


def test_segmentation_without_mixing_reproduces_the_old_trainer(tmp_path):
  config = seg_config.get_config()
  config.method = "none"
  config.model_kwargs.widths = (4, 8)
  config.train_size, config.batch_size, config.num_train_steps = 160, 16, 6
  config.checkpoint_every_steps, config.log_every_steps = 2, 2
  config.eval_batch_size, config.progress_bar = 1000, False
  assert _final(train.train_and_evaluate(config, str(tmp_path)), SEGMENTATION) == SEGMENTATION

"""ResNets in Flax NNX for the CutMix / Mixup / Cutout experiments.

Models:
  resnet_small     3-stage CIFAR ResNet with one basic block per stage and 16/32/64
                   channels (about 0.08M params): CPU runs and tests.
  resnet18         CIFAR ResNet-18 (3x3 stem, no max-pool), as in the CutMix and
                   Mixup CIFAR tables (kuangliu/pytorch-cifar layout).
  preact_resnet18  Pre-activation ResNet-18 (He et al. 2016b), the Mixup paper's model, with
                   the paper's final BN-ReLU before pooling (kuangliu's version omits it).
  wrn28_10         WideResNet-28-10 (Zagoruyko & Komodakis 2016), no dropout.
  resnet50         ImageNet ResNet-50 v1.5 (stride on the 3x3 conv), torchvision layout.
  (airbench: airbench.py; the registry `create_model`: models/__init__.py.)

All models take NHWC float images already normalized and return float32 logits;
every constructor takes `in_channels` (default 3; 1 for Fashion-MNIST). `model.features(x)`
returns the last conv feature map before global pooling (for class-activation maps).
Parameters are always float32; `dtype=jnp.bfloat16` makes the convolutions and
activations bf16 (BatchNorm statistics stay float32 because Flax computes them in
float32 before casting) and the classifier output is cast back to float32.

BatchNorm follows the Flax convention: `model.train()` normalizes with batch statistics
and updates the running averages (nnx.BatchStat), `model.eval()` uses the running
averages. Momentum 0.9 and epsilon 1e-5 match PyTorch's defaults (momentum=0.1 there).
"""

from collections.abc import Sequence
from typing import Any

from flax import nnx
import jax
import jax.numpy as jnp

# Kaiming-normal fan-out, as torchvision initializes ResNet convolutions.
_conv_init = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")


def _conv(in_ch, out_ch, kernel, stride, *, rngs, dtype):
  return nnx.Conv(in_ch, out_ch, (kernel, kernel), strides=(stride, stride),
                  padding=[(kernel // 2, kernel // 2)] * 2, use_bias=False,
                  kernel_init=_conv_init, dtype=dtype, param_dtype=jnp.float32,
                  rngs=rngs)


def _bn(ch, *, rngs, dtype, zero_scale=False):
  return nnx.BatchNorm(ch, momentum=0.9, epsilon=1e-5, dtype=dtype,
                       param_dtype=jnp.float32,
                       scale_init=(nnx.initializers.zeros if zero_scale
                                   else nnx.initializers.ones),
                       rngs=rngs)


def _head(in_ch, num_classes, *, rngs, dtype):
  return nnx.Linear(in_ch, num_classes, dtype=dtype, param_dtype=jnp.float32,
                    rngs=rngs)


class BasicBlock(nnx.Module):
  """Post-activation 3x3-3x3 residual block with a 1x1 projection shortcut."""
  expansion = 1

  def __init__(self, in_ch, ch, stride, *, rngs, dtype):
    self.conv1 = _conv(in_ch, ch, 3, stride, rngs=rngs, dtype=dtype)
    self.bn1 = _bn(ch, rngs=rngs, dtype=dtype)
    self.conv2 = _conv(ch, ch, 3, 1, rngs=rngs, dtype=dtype)
    self.bn2 = _bn(ch, rngs=rngs, dtype=dtype)
    if stride != 1 or in_ch != ch:
      self.proj = _conv(in_ch, ch, 1, stride, rngs=rngs, dtype=dtype)
      self.proj_bn = _bn(ch, rngs=rngs, dtype=dtype)
    else:
      self.proj = None

  def __call__(self, x):
    y = nnx.relu(self.bn1(self.conv1(x)))
    y = self.bn2(self.conv2(y))
    shortcut = x if self.proj is None else self.proj_bn(self.proj(x))
    return nnx.relu(y + shortcut)


class Bottleneck(nnx.Module):
  """1x1-3x3-1x1 bottleneck (ResNet v1.5: the stride sits on the 3x3 conv)."""
  expansion = 4

  def __init__(self, in_ch, ch, stride, *, rngs, dtype):
    out_ch = ch * self.expansion
    self.conv1 = _conv(in_ch, ch, 1, 1, rngs=rngs, dtype=dtype)
    self.bn1 = _bn(ch, rngs=rngs, dtype=dtype)
    self.conv2 = _conv(ch, ch, 3, stride, rngs=rngs, dtype=dtype)
    self.bn2 = _bn(ch, rngs=rngs, dtype=dtype)
    self.conv3 = _conv(ch, out_ch, 1, 1, rngs=rngs, dtype=dtype)
    self.bn3 = _bn(out_ch, rngs=rngs, dtype=dtype)
    if stride != 1 or in_ch != out_ch:
      self.proj = _conv(in_ch, out_ch, 1, stride, rngs=rngs, dtype=dtype)
      self.proj_bn = _bn(out_ch, rngs=rngs, dtype=dtype)
    else:
      self.proj = None

  def __call__(self, x):
    y = nnx.relu(self.bn1(self.conv1(x)))
    y = nnx.relu(self.bn2(self.conv2(y)))
    y = self.bn3(self.conv3(y))
    shortcut = x if self.proj is None else self.proj_bn(self.proj(x))
    return nnx.relu(y + shortcut)


class PreActBlock(nnx.Module):
  """Pre-activation block: BN-ReLU-conv twice; the projection sees the activated input."""
  expansion = 1

  def __init__(self, in_ch, ch, stride, *, rngs, dtype):
    self.bn1 = _bn(in_ch, rngs=rngs, dtype=dtype)
    self.conv1 = _conv(in_ch, ch, 3, stride, rngs=rngs, dtype=dtype)
    self.bn2 = _bn(ch, rngs=rngs, dtype=dtype)
    self.conv2 = _conv(ch, ch, 3, 1, rngs=rngs, dtype=dtype)
    if stride != 1 or in_ch != ch:
      self.proj = _conv(in_ch, ch, 1, stride, rngs=rngs, dtype=dtype)
    else:
      self.proj = None

  def __call__(self, x):
    a = nnx.relu(self.bn1(x))
    shortcut = x if self.proj is None else self.proj(a)
    y = self.conv1(a)
    y = self.conv2(nnx.relu(self.bn2(y)))
    return y + shortcut


class ResNet(nnx.Module):
  """A ResNet: stem, stages of residual blocks, global average pool, linear head.

  Args:
    block: BasicBlock, Bottleneck or PreActBlock.
    stage_sizes: number of blocks per stage.
    widths: base channel count per stage (times block.expansion at the output).
    num_classes: size of the classifier.
    rngs: nnx.Rngs for initialization.
    stem: "cifar" (3x3 conv stride 1) or "imagenet" (7x7 stride 2 + 3x3 max-pool).
    stem_width: channels of the stem conv.
    dtype: computation dtype (parameters are always float32).
  """

  def __init__(self, block: Any, stage_sizes: Sequence[int],
               widths: Sequence[int], num_classes: int, *, rngs: nnx.Rngs,
               stem: str = "cifar", stem_width: int = 64,
               in_channels: int = 3, dtype: Any = jnp.float32):
    if stem not in ("cifar", "imagenet"):
      raise ValueError(f"stem must be 'cifar' or 'imagenet', got {stem!r}")
    self.dtype = dtype
    self.stem_kind = stem
    self.preact = block is PreActBlock
    kernel, stride = (3, 1) if stem == "cifar" else (7, 2)
    self.stem = _conv(in_channels, stem_width, kernel, stride, rngs=rngs,
                      dtype=dtype)
    # Pre-activation nets normalize after the last block instead of after the stem.
    self.stem_bn = None if self.preact else _bn(stem_width, rngs=rngs,
                                                  dtype=dtype)
    blocks = []
    in_ch = stem_width
    for i, (n, w) in enumerate(zip(stage_sizes, widths)):
      for j in range(n):
        stride = 2 if (i > 0 and j == 0) else 1
        blocks.append(block(in_ch, w, stride, rngs=rngs, dtype=dtype))
        in_ch = w * block.expansion
    self.blocks = nnx.List(blocks)
    self.final_bn = _bn(in_ch, rngs=rngs, dtype=dtype) if self.preact else None
    self.head = _head(in_ch, num_classes, rngs=rngs, dtype=dtype)

  def features(self, x: jax.Array) -> jax.Array:
    """The last conv feature map before global pooling, (N, h, w, C), in `dtype`.

    `head(mean(features(x), (1, 2)))` is the logits, so a class-activation map
    (Zhou et al. 2016) is `features(x) @ head.kernel[:, c] + head.bias[c]`, whose mean
    over (h, w) is logit c.
    """
    x = self.stem(x.astype(self.dtype))
    if self.stem_bn is not None:
      x = nnx.relu(self.stem_bn(x))
    if self.stem_kind == "imagenet":
      x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for blk in self.blocks:
      x = blk(x)
    if self.final_bn is not None:
      x = nnx.relu(self.final_bn(x))
    return x

  def __call__(self, x: jax.Array) -> jax.Array:
    x = jnp.mean(self.features(x), axis=(1, 2))
    return self.head(x).astype(jnp.float32)


def resnet_small(num_classes, *, rngs, dtype=jnp.float32, width=16, blocks=1,
                 in_channels=3):
  """CIFAR-style ResNet with three stages of `blocks` basic blocks, `width`x(1,2,4) channels."""
  return ResNet(BasicBlock, [blocks] * 3, [width, 2 * width, 4 * width],
                num_classes, rngs=rngs, stem_width=width, in_channels=in_channels,
                dtype=dtype)


def resnet18(num_classes, *, rngs, dtype=jnp.float32, width=64, in_channels=3):
  return ResNet(BasicBlock, [2, 2, 2, 2], [width, 2 * width, 4 * width, 8 * width],
                num_classes, rngs=rngs, stem_width=width, in_channels=in_channels,
                dtype=dtype)


def preact_resnet18(num_classes, *, rngs, dtype=jnp.float32, width=64,
                    in_channels=3):
  return ResNet(PreActBlock, [2, 2, 2, 2],
                [width, 2 * width, 4 * width, 8 * width], num_classes,
                rngs=rngs, stem_width=width, in_channels=in_channels, dtype=dtype)


def wide_resnet(num_classes, *, rngs, dtype=jnp.float32, depth=28,
                widen_factor=10, in_channels=3):  # Tests use depth=10, widen_factor=1.
  """WideResNet-depth-k: pre-activation blocks, (depth - 4) / 6 per stage, 16k/32k/64k channels."""
  if (depth - 4) % 6:
    raise ValueError(f"depth must be 6n + 4, got {depth}")
  n = (depth - 4) // 6
  k = widen_factor
  return ResNet(PreActBlock, [n] * 3, [16 * k, 32 * k, 64 * k], num_classes,
                rngs=rngs, stem_width=16, in_channels=in_channels, dtype=dtype)


def resnet50(num_classes, *, rngs, dtype=jnp.float32, width=64,
             stage_sizes=(3, 4, 6, 3), in_channels=3):
  # Tests use width=8, stage_sizes=(1, 1, 1, 1).
  return ResNet(Bottleneck, list(stage_sizes), [width, 2 * width, 4 * width, 8 * width],
                num_classes, rngs=rngs, stem="imagenet", stem_width=width,
                in_channels=in_channels, dtype=dtype)

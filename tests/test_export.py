"""Every op, and a train step that uses one, exports for TPU and CUDA from a CPU (issue 16).

`jax.export` lowers for platforms this machine does not have, so a lowering rule that
exists only for the CPU (or a host callback) fails here instead of on the accelerator.
"""

import jax
import jax.numpy as jnp
import pytest

from benchmarks import kernel_count

PLATFORMS = ["tpu", "cuda"]
_KEY = jax.random.key(0)
SPECS = (jax.ShapeDtypeStruct(_KEY.shape, _KEY.dtype),
         jax.ShapeDtypeStruct((8, 32, 32, 3), jnp.float32),
         jax.ShapeDtypeStruct((8,), jnp.int32))


def _export(fn, *specs):
  exported = jax.export.export(jax.jit(fn), platforms=PLATFORMS)(*specs)
  assert exported.platforms == tuple(PLATFORMS)
  text = exported.mlir_module()
  # A host callback would run Python on the accelerator's host every step.
  assert "callback" not in text, "host callback in the exported module"
  return exported


@pytest.mark.parametrize("name", list(kernel_count.op_cases(num_classes=10)))
def test_op_exports_for_tpu_and_cuda(name):
  exported = _export(kernel_count.op_cases(num_classes=10)[name], *SPECS)
  images, rows = exported.out_avals[:2]
  assert images.shape == (8, 32, 32, 3)
  # Cutout leaves the labels as they came; every mix returns rows over 10 classes.
  assert rows.shape == ((8,) if name.startswith("cutout") else (8, 10))


def test_uint8_cutmix_exports():
  fn = kernel_count.op_cases(num_classes=10)["cutmix elem"]
  exported = _export(fn, SPECS[0], jax.ShapeDtypeStruct((8, 32, 32, 3), jnp.uint8), SPECS[2])
  assert exported.out_avals[0].dtype == jnp.uint8


def test_train_step_exports_for_tpu_and_cuda():
  """A flax model + optax SGD step with CutMix inside, as `benchmarks.train_speed` builds it."""
  from benchmarks import train_speed  # flax/optax: the experiments extra
  step, state = train_speed.make_step("resnet_small", "cutmix", batch=8, image=16,
                                      dtype=jnp.float32, model_kwargs={"width": 4})
  specs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                       (state["params"], state["rest"], state["opt"], state["images"],
                        state["labels"]))
  exported = _export(step, *specs, SPECS[0])
  assert exported.out_avals[-1].shape == ()  # the loss

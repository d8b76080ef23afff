"""Every op (and the policy, `jaxmix.mix`) with dense targets runs under an Explicit-axes mesh and equals the unsharded result.

With `AxisType.Explicit` JAX refuses a select or a vmap whose operands are sharded differently;
jaxmix's per-sample masks and boxes come from the replicated key while the batch is sharded, so
they are given the batch's sharding (`_layout.match_batch_sharding`). Runs in a subprocess with
2 simulated CPU devices (the device count is fixed when JAX starts).
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, jaxmix
    from jax.sharding import NamedSharding, PartitionSpec as P, AxisType
    mesh = jax.make_mesh((2,), ("data",), axis_types=(AxisType.Explicit,))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    y = np.arange(4)
    m = rng.integers(0, 3, (4, 8, 8)).astype(np.int32)
    shard = lambda a: jax.device_put(a, NamedSharding(mesh, P("data")))
    key = jax.random.key(0)
    failures = []
    policy = lambda k, x, y, mode, masks, **kw: jaxmix.mix(
        k, x, y, jaxmix.MixConfig(num_classes=4, num_shards=2, mode=mode), masks=masks)
    ops = dict(jaxmix.OPS, mix=policy)
    for op in ("cutmix", "resizemix", "saliencymix", "fmix", "smoothmix", "mixup", "cutout", "mix"):
      for mode in ("batch", "elem"):
        if op == "cutout":
          kw = dict(size=4, mode=mode, masks=m)
        else:
          kw = dict(num_classes=4, num_shards=2, mode=mode, masks=m)
        f = lambda k, x, y, m, op=op, kw=kw: ops[op](k, x, y, **{**kw, "masks": m})
        want = jax.jit(f)(key, x, y, m)
        with jax.set_mesh(mesh):
          got = jax.jit(f)(jax.device_put(key, NamedSharding(mesh, P())), shard(x), shard(y),
                           shard(m))
        for w, g in zip(want, got):
          if not np.array_equal(np.asarray(w), np.asarray(g)):
            failures.append((op, mode))
    print("FAILURES", failures)
    assert not failures, failures
""")


def test_ops_with_masks_under_an_explicit_mesh_equal_the_unsharded_result():
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
         "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
  assert "FAILURES []" in proc.stdout

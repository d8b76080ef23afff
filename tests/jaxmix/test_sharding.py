"""Shard-local partners and per-host/device/sample draws: no collectives in the compiled
HLO, same result as unsharded; inside shard_map by axis name, the same as num_shards.

Runs in a subprocess because the 8 simulated CPU devices must be set before JAX starts.
"""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import jaxmix
    assert jax.device_count() == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    sharding = NamedSharding(mesh, P("data"))
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (32, 12, 10, 3)).astype(np.uint8)
    labels = (np.arange(32) % 10).astype(np.int32)
    xs, ys = jax.device_put(images, sharding), jax.device_put(labels, sharding)
    key = jax.random.key(3)
    COLLECTIVES = ("all-gather", "all-to-all", "collective-permute", "all-reduce", "reduce-scatter")
    results = {}
    cases = {}
    for mode, partners in (("batch", ("flip", "roll", "permute")), ("elem", ("flip", "roll", "permute")), ("pair", ("flip",))):
        for partner in partners:
            config = jaxmix.MixConfig(num_classes=10, mode=mode, partner=partner, num_shards=8, mixup_alpha=1.0)
            cases[f"mix/{mode}/{partner}"] = lambda k, x, y, c=config: jaxmix.mix(k, x, y, c)
            cases[f"cutmix/{mode}/{partner}"] = lambda k, x, y, m=mode, p=partner: jaxmix.cutmix(
                k, x, y, num_classes=10, mode=m, partner=p, num_shards=8)
    cases["cutout"] = lambda k, x, y: (jaxmix.cutout(k, x, size=4), jaxmix.one_hot(y, 10))
    # λ granularity: one draw per host / device / sample, still no collectives.
    for mode in ("host", "device", "sample"):
        cases[f"cutmix/{mode}/permute"] = lambda k, x, y, m=mode: jaxmix.cutmix(
            k, x, y, num_classes=10, mode=m, partner="permute", num_shards=8)
    cases["mixup/device/roll/n3"] = lambda k, x, y: jaxmix.mixup(
        k, x, y, num_classes=10, mode="device", partner="roll", num_shards=8, num_mixed=3)
    cases["mix/device/flip"] = lambda k, x, y: jaxmix.mix(k, x, y, jaxmix.MixConfig(
        num_classes=10, mode="device", num_shards=8, mixup_alpha=1.0, cutmix_alpha=1.0))
    cases["cutout/device"] = lambda k, x, y: (
        jaxmix.cutout(k, x, size=4, mode="device", num_shards=8), jaxmix.one_hot(y, 10))
    cases["global_flip"] = lambda k, x, y: jaxmix.cutmix(k, x, y, num_classes=10, mode="elem", partner="flip")
    for name, f in cases.items():
        sharded = jax.jit(f, out_shardings=(sharding, sharding))
        hlo = sharded.lower(key, xs, ys).compile().as_text()
        out_s = sharded(key, xs, ys)
        out_u = jax.jit(f)(key, images, labels)
        results[name] = {
            "collectives": [c for c in COLLECTIVES if c in hlo],
            "images_equal": bool(np.array_equal(np.asarray(out_s[0]), np.asarray(out_u[0]))),
            # Labels may differ in the last bit: XLA fuses the multiply-adds differently.
            "labels_equal": bool(np.allclose(np.asarray(out_s[1]), np.asarray(out_u[1]), atol=1e-6, rtol=0)),
            "out_sharded": out_s[0].sharding.is_equivalent_to(sharding, 4),
        }
    # Inside shard_map, by axis name: the draws and partners equal the global
    # computation with num_shards = 8, and nothing is communicated.
    shard_map = getattr(jax, "shard_map", None)
    if shard_map is None:
        from jax.experimental.shard_map import shard_map
    local_cases = {
        "cutmix/elem/permute": dict(op="cutmix", mode="elem", partner="permute"),
        "cutmix/pair/flip": dict(op="cutmix", mode="pair", partner="flip"),
        "cutmix/device/roll": dict(op="cutmix", mode="device", partner="roll"),
        "cutmix/host/flip": dict(op="cutmix", mode="host", partner="flip"),
        "mixup/batch/flip": dict(op="mixup", mode="batch", partner="flip"),
        "mixup/elem/roll/n3": dict(op="mixup", mode="elem", partner="roll", num_mixed=3),
        "mix/elem/flip": dict(op="mix", mode="elem", partner="flip"),
        "random_erasing": dict(op="random_erasing", mode="elem", partner="flip"),
    }
    def make(op, mode, partner, **kw):
        def f(k, x, y, axis_name=None, num_shards=1):
            if op == "random_erasing":
                return jaxmix.random_erasing(k, x, prob=1.0, axis_name=axis_name), jaxmix.one_hot(y, 10)
            if op == "mix":
                c = jaxmix.MixConfig(num_classes=10, mode=mode, partner=partner, mixup_alpha=1.0,
                                     cutmix_alpha=1.0, num_shards=num_shards, axis_name=axis_name)
                return jaxmix.mix(k, x, y, c)
            return getattr(jaxmix, op)(k, x, y, num_classes=10, mode=mode, partner=partner,
                                       num_shards=num_shards, axis_name=axis_name, **kw)
        return f
    for name, spec in local_cases.items():
        f = make(**spec)
        local = shard_map(lambda k, x, y, f=f: f(k, x, y, axis_name="data"), mesh=mesh,
                          in_specs=(P(), P("data"), P("data")), out_specs=(P("data"), P("data")))
        sharded = jax.jit(local)
        hlo = sharded.lower(key, xs, ys).compile().as_text()
        out_s = sharded(key, xs, ys)
        out_u = jax.jit(lambda k, x, y, f=f: f(k, x, y, num_shards=8))(key, images, labels)
        results["shard_map/" + name] = {
            "collectives": [c for c in COLLECTIVES if c in hlo],
            "images_equal": bool(np.array_equal(np.asarray(out_s[0]), np.asarray(out_u[0]))),
            "labels_equal": bool(np.allclose(np.asarray(out_s[1]), np.asarray(out_u[1]), atol=1e-6, rtol=0)),
            "out_sharded": out_s[0].sharding.is_equivalent_to(sharding, 4),
        }
    # The pairing stays within each device's shard of 4.
    idx = np.asarray(jaxmix.partner_index(key, 32, "permute", num_shards=8))
    results["within_shard"] = bool(np.all(idx // 4 == np.arange(32) // 4))
    print("RESULT" + json.dumps(results))
""")


def test_shard_local_mixing_has_no_collectives_and_matches_unsharded():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
  results = json.loads(line[len("RESULT"):])
  assert results.pop("within_shard")
  global_flip = results.pop("global_flip")
  # A control: a batch-wide flip partner has to move data between devices.
  assert global_flip["collectives"], "control case should need communication"
  assert global_flip["images_equal"]
  for name, r in results.items():
    assert r["collectives"] == [], f"{name}: {r['collectives']}"
    assert r["images_equal"] and r["labels_equal"], name
    assert r["out_sharded"], name

"""Statistics over seeds: mean ± sd, and paired differences with a 95% t interval.

Runs of two methods with the same seed share initialization, batch order and mixing draws, so
the report compares them per seed: the mean of the per-seed differences with a two-sided 95%
Student-t interval. An interval that includes 0 is reported as no difference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import math

import numpy as np

# Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30 (df > 30: normal 1.96).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
  v = np.asarray(values, np.float64)
  return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def paired_difference(values: Sequence[float], baseline: Sequence[float]) -> dict:
  """Mean of the per-seed differences values − baseline with a two-sided 95% t interval.

  Returns {"mean", "lo", "hi", "n"}; lo and hi are NaN below 2 pairs, and mean too with none.
  """
  d = np.asarray(values, np.float64) - np.asarray(baseline, np.float64)
  n = len(d)
  mean = float(d.mean()) if n else float("nan")   # No paired seeds yet: no warning, no value.
  if n < 2:
    return {"mean": mean, "lo": float("nan"), "hi": float("nan"), "n": n}
  t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
  half = t * float(d.std(ddof=1)) / math.sqrt(n)
  return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": n}


def paired(groups: Mapping[str, Mapping[int, dict]], a: str, b: str,
           metric: Callable[[dict], float]) -> dict:
  """metric(a's run) − metric(b's run), paired over the seeds both groups have."""
  seeds = sorted(set(groups.get(a, {})) & set(groups.get(b, {})))
  return paired_difference([metric(groups[a][s]) for s in seeds],
                           [metric(groups[b][s]) for s in seeds])

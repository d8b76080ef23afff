"""How the report writes numbers: mean ± sd, paired differences, verdicts, provenance, links.

Every table and sentence of the report goes through these few functions, so a number has one
format wherever it appears: points (×100) with 2 decimals unless a column says otherwise, a
paired difference as "mean [lo, hi]" with `*` where its 95% interval excludes 0, and a verdict
that states a direction only where the interval excludes 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
import os
import pathlib

from experiments.report import stats

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULTS = REPO_ROOT / "experiments" / "results"
# The page the generated block lives in; figure links are relative to it.
TARGET = REPO_ROOT / "docs" / "experiments.md"


def link(path: pathlib.Path, target: pathlib.Path = TARGET) -> str:
  """A link from `target` to `path`: relative when both are in the repository."""
  path = path.resolve()
  try:
    path.relative_to(REPO_ROOT)
  except ValueError:
    return str(path)
  return pathlib.Path(os.path.relpath(path, target.parent)).as_posix()


def fmt_pm(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
  """mean ± sd over seeds (the mean alone for one seed: no spread to show; "–" for none)."""
  if not len(values):
    return "–"
  mean, sd = stats.mean_sd([v * scale for v in values])
  return f"{mean:.{digits}f}" if len(values) < 2 else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def fmt_diff(d: dict, scale: float = 100.0, digits: int = 2) -> str:
  """A paired difference: "mean [lo, hi]", `*` where the interval excludes 0."""
  if d["n"] == 0:
    return "–"
  if d["n"] < 2:
    return f"{d['mean'] * scale:+.{digits}f} (n=1)"
  star = "" if d["lo"] <= 0 <= d["hi"] else " *"
  return (f"{d['mean'] * scale:+.{digits}f} [{d['lo'] * scale:+.{digits}f}, "
          f"{d['hi'] * scale:+.{digits}f}]{star}")


def verdict(d: dict, name: str, lower: str, higher: str, *, what: str = "",
            measure: str = "", min_seeds: int = 3) -> str:
  """One sentence on a paired difference, e.g. "cutmix vs baseline: lower error (paired Δ
  -1.20 points, 95% CI [-2.00, -0.40])": `lower` or `higher` (then `what`) only where the
  interval excludes 0, "no difference" where it includes 0, no verdict below `min_seeds`."""
  if d["n"] < min_seeds:
    return (f"{name}: {d['n']} of {min_seeds} paired seeds so far; verdict pending until "
            f"≥{min_seeds} paired seeds.")
  interval = (f"paired Δ{' ' + measure if measure else ''} {100 * d['mean']:+.2f} points, "
              f"95% CI [{100 * d['lo']:+.2f}, {100 * d['hi']:+.2f}]")
  what = f" {what}" if what else ""
  if d["lo"] <= 0 <= d["hi"]:
    return f"{name}: no difference{' in' + what if what else ''} ({interval} includes 0)."
  return f"{name}: {lower if d['mean'] < 0 else higher}{what} ({interval})."


def clause(d: dict, lower: str, higher: str, min_seeds: int = 3) -> str:
  """The claims table's form: "lower (-1.20 [-2.00, -0.40])", "no difference (+0.30 [-1.20,
  +1.80])", or "1 of 3 seeds so far"."""
  if d["n"] < min_seeds:
    return f"{d['n']} of {min_seeds} seeds so far"
  nums = f"{100 * d['mean']:+.2f} [{100 * d['lo']:+.2f}, {100 * d['hi']:+.2f}]"
  if d["lo"] <= 0 <= d["hi"]:
    return f"no difference ({nums})"
  return f"{lower if d['mean'] < 0 else higher} ({nums})"


# The widest vector or matrix extension decides most of XLA's CPU code: name that one.
_ISA_TIERS = (("amx_tile", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"),
              ("sve2", "SVE2"), ("sve", "SVE"), ("asimd", "NEON"))


def cpu(device: dict) -> str:
  """"AMD EPYC 7B13, AVX2": the host CPU a result records ("" for results from before it did)."""
  isa = next((name for flag, name in _ISA_TIERS if flag in device.get("cpu_isa", ())), "")
  return ", ".join(filter(None, [device.get("cpu_model"), isa]))


def _machine(device: dict) -> str:
  """"cpu ×1 (2 cores, AMD EPYC 7B13, AVX2)"; "NVIDIA H200 ×1 (host AMD EPYC 9454, AVX-512)"."""
  kind, host = f"{device['device_kind']} ×{device['device_count']}", cpu(device)
  if device["platform"] == "cpu":
    return f"{kind} ({device['cpu_count']} cores{', ' + host if host else ''})"
  return f"{kind} (host {host})" if host else kind


def provenance(rows: Sequence[dict]) -> str:
  """One line: the command, device(s), dates, epochs and seeds behind a table."""
  study = rows[0]["study"]
  kinds = sorted({_machine(r["device"]) for r in rows})
  dates = sorted(r["finished_at"][:10] for r in rows)
  epochs = sorted({r["config"]["num_epochs"] for r in rows})
  seeds = sorted({r["seed"] for r in rows})
  commits = sorted({(r["git_commit"] or "?")[:8] for r in rows})
  # Results made outside the study runner (cifar_reference) carry their own command; a result
  # set grown by several invocations names each, with how many of its runs it made.
  counts = Counter(r.get("study_command", f"python -m experiments.study {study}") for r in rows)
  runs = lambda n: f"{n} run{'s' if n != 1 else ''}"
  command = "; ".join(f"`{c}`" + (f" ({runs(n)})" if len(counts) > 1 else "")
                      for c, n in counts.items())
  return (f"{command}; {', '.join(kinds)}; "
          f"{dates[0]}{' to ' + dates[-1] if dates[-1] != dates[0] else ''}; "
          f"{'/'.join(map(str, epochs))} epochs; seeds {', '.join(map(str, seeds))}; "
          f"{runs(len(rows))}; code {', '.join(commits)}")


def diff_vs(groups, method: str, metric, reference: str = "baseline", digits: int = 2) -> str:
  """A table's Δ column: method − reference paired by seed ("–" on the reference's own row,
  or without the reference)."""
  if method == reference or reference not in groups:
    return "–"
  return fmt_diff(stats.paired(groups, method, reference, metric), digits=digits)

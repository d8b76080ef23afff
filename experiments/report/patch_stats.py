"""The report's section for `python -m experiments.patch_stats` (no training): how often a
pasted patch hides the image's own object or carries none of the partner's."""

from __future__ import annotations

from collections.abc import Sequence
import pathlib

from experiments.report.format import cpu

_OPS = ("cutmix", "saliencymix", "resizemix", "fmix", "cutout")


def _pct(v: float | None) -> str:
  return "–" if v is None else f"{100 * v:.1f}"


def section_patch_stats(name: str, rows: Sequence[dict], folder: pathlib.Path) -> list[str]:
  """One row per op: own object hidden / mostly hidden, partner absent, label vs content."""
  del folder
  rank = {o: i for i, o in enumerate(_OPS)}
  rows = sorted(rows, key=lambda r: rank.get(r["op"], 99))
  host = cpu(rows[0])
  size = rows[0].get("image_size", 32)   # Results from before the option: 32×32.
  flag = f" --image-size {size}" if size != 32 else ""
  lines = [f"**{name}** — `python -m experiments.patch_stats{flag}`; {rows[0]['device']}"
           f"{f' ({host})' if host else ''}; "
           f"{rows[0]['finished_at'][:10]}; {rows[0]['images']} shapes training images "
           f"({size}×{size}) per op, elem mode, α = 1, flip partners, Cutout {size // 2}×"
           f"{size // 2}", "",
           "| op | own object hidden % | own object < half visible % | partner object absent "
           "from patch % | partner weight in label (mean) | partner share of visible object "
           "pixels, gap to label (mean abs.) |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for r in rows:
    lines.append(f"| {r['op']} | {_pct(r['own_hidden'])} | {_pct(r['own_mostly_hidden'])} "
                 f"| {_pct(r.get('partner_absent'))} | {_pct(r.get('label_weight_mean'))} "
                 f"| {_pct(r.get('label_content_gap_mean'))} |")
  return lines + [""]

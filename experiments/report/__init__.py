r"""The experiments page's generated block, built from the committed study results.

  python -m experiments.report            # rewrite the block and the figures
  python -m experiments.report --check    # exit 1 if a block is out of date

Reads `experiments/results/<study>/*.json` (written by `python -m experiments.study`), writes
figures to `experiments/results/figures/` and replaces the text between the REPORT markers of
`TARGET` (docs/experiments.md), and between the CLAIMS markers of README.md (each claim's
status where the baseline fits). Every table states its command, device, dates, epochs and
seeds, and every verdict its regime: whether the baseline fits its training data (train
accuracy ≥ 95% over its last epochs), epochs, training images, model, device. A difference
whose 95% interval includes zero is reported as no difference; none is judged before 3 paired
seeds.

Modules, in import order (each imports only those above it):
  stats         mean ± sd, paired differences with a 95% t interval
  format        numbers, intervals, verdicts, provenance, links; the page's path (TARGET)
  results       reading the result folders (and the reference study's logs); row accessors
  regime        fits / underfits from the baseline's train accuracy; the regime's tag and line
  figures       matplotlib figures
  patch_stats, methods, reference, segmentation, sweeps   one per section
  claims        each claim's verdicts, every one tagged with its regime
  headlines     the claims table: headlines from the result sets where the baseline fits
  page          the block: every section in order; replace_block; main
"""

from experiments.report.format import TARGET, provenance
from experiments.report.page import main, render, replace_block

__all__ = ["TARGET", "main", "provenance", "render", "replace_block"]

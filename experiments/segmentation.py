"""`python -m experiments.segmentation --config experiments/configs/segmentation.py ...` (the
command of earlier results) is `python -m experiments.main` with that config: its
`config.task = "segmentation"` picks the task in experiments/train/segmentation.py."""

import sys

from experiments import main

if __name__ == "__main__":
  main.define_flags()
  main.run_main(main.main, sys.argv)

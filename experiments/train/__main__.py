"""`python -m experiments.train ...` is `python -m experiments.main ...`."""

import sys

from experiments import main

main.define_flags()
main.run_main(main.main, sys.argv)

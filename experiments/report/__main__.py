"""`python -m experiments.report [--check]`: see `experiments.report`."""

import sys

from experiments.report import page

sys.exit(page.main())

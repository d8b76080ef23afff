"""Hypothesis profiles: a quick default for CI; `JAXMIX_HYPOTHESIS=extended` for a long run."""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=10, deadline=None, derandomize=True)
settings.register_profile("extended", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("JAXMIX_HYPOTHESIS", "ci"))

"""Studies: named lists of training runs (configs × seeds) whose results live in git.

A study is a module `experiments/studies/<name>.py` that defines `STUDY = Study(...)`.
`python -m experiments.study <name>` runs its runs in order, skipping those whose result
JSON exists under `experiments/results/<name>/` and resuming a partial run from its
checkpoint (see `experiments/study.py`).
"""

from collections.abc import Callable, Mapping, Sequence
import dataclasses
import importlib
import pkgutil
import re
from typing import Any

import ml_collections

_RUN_NAME = re.compile(r"^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*$")


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run of a study. `name` is unique in the study, e.g. "cutmix/seed1"."""
  name: str
  config: ml_collections.ConfigDict
  # Labels the report groups by, e.g. {"method": "cutmix", "train_size": 5000}.
  tags: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if not _RUN_NAME.match(self.name):
      raise ValueError(f"run name must be path-like ([A-Za-z0-9_.=-] parts joined by '/'), "
                       f"got {self.name!r}")

  @property
  def file_stem(self) -> str:
    return self.name.replace("/", "__")


# analyze(run, workdir, summary) -> extra metrics stored in the run's result JSON.
Analyzer = Callable[[Run, str, Mapping[str, Any]], Mapping[str, Any]]
# train(config, workdir) -> summary with at least "steps" and one "eval_*" metric; it must
# resume from the workdir's checkpoint and return the saved summary when the run is finished.
Trainer = Callable[[ml_collections.ConfigDict, str], Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class Study:
  name: str
  question: str            # what the study answers, one sentence.
  runs: Sequence[Run]
  analyze: Analyzer | None = None
  train: Trainer | None = None   # None: the one trainer, experiments.train (config.task).

  def __post_init__(self):
    names = [r.name for r in self.runs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
      raise ValueError(f"study {self.name!r} has duplicate run names: {dupes}")


def names() -> list[str]:
  """Every study defined in this package."""
  return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> Study:
  """The `STUDY` of `experiments/studies/<name>.py`; ValueError naming the choices if unknown."""
  if name not in names():
    raise ValueError(f"unknown study {name!r}; choose one of {names()}")
  study = importlib.import_module(f"{__name__}.{name}").STUDY
  if study.name != name:
    raise ValueError(f"experiments/studies/{name}.py defines STUDY named {study.name!r}")
  return study


def seeds(config_fn: Callable[[], ml_collections.ConfigDict], prefix: str,
          seed_list: Sequence[int], **tags) -> list[Run]:
  """`prefix/seedN` runs of the same config, one per seed (same seed = same init and data)."""
  runs = []
  for seed in seed_list:
    config = config_fn()
    config.seed = seed
    runs.append(Run(f"{prefix}/seed{seed}", config, {**tags, "seed": seed}))
  return runs

r"""Runs a named study: its training runs in order, skipping finished ones, resuming partial ones.

  python -m experiments.study --list                 # every study: done / partial / to do
  python -m experiments.study cifar_methods --list   # one study, run by run, with time left
  python -m experiments.study cifar_methods          # run what is left (Ctrl-C: stop, rerun resumes)
  python -m experiments.study cifar_methods --only 'cutmix/*' --max-runs 2

Several runners may work on one study at once (`--jobs N` starts N on this host; or a second
terminal, or another host on a shared disk): each claims a run before training it (a `RUNNING` file holding its host and pid in the
run's workdir) and skips the runs others hold, so two runners on two cores finish sooner than
one. A claim left by a process that died (same host, pid gone) is taken over.

Each finished run writes one small JSON, `experiments/results/<study>/<run>.json`: the config,
seed, tags, final and per-epoch eval metrics, the study's analysis (calibration, robustness, ...),
device, jax version, wall time and the git commit of the code that ran. Commit those files: a
study can then be spread over many sessions and machines, and `python -m experiments.report`
builds the README's tables and figures from them. Checkpoints and logs stay in the run's workdir
(`runs/studies/<study>/<run>/`, not committed); a run stopped midway resumes from there.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

from experiments import studies
# Re-exported: the runner's callers (patch_stats, cifar_reference, tests) find them here.
from experiments.studies._provenance import (  # pylint: disable=unused-import
    ISA_FLAGS, cpu_info, device_info, git_commit, provenance, write_result)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO_ROOT / "experiments" / "results"
DEFAULT_WORKDIRS = pathlib.Path("runs") / "studies"
# Training images per second on this project's 2-core CPU machine (benchmarks/train_speed.py),
# used for time estimates until a study has finished runs of its own.
_CPU_IMAGES_PER_SEC = {"resnet_small": 580.0, "resnet18": 22.0, "preact_resnet18": 22.0,
                       "airbench": 35.0, "unet": 220.0}


def result_path(results_root: pathlib.Path, study: studies.Study, run: studies.Run) -> pathlib.Path:
  return results_root / study.name / f"{run.file_stem}.json"


def workdir_of(workdir_root: pathlib.Path, study: studies.Study, run: studies.Run) -> pathlib.Path:
  return workdir_root / study.name / run.name


def checkpointed_step(workdir: pathlib.Path) -> int | None:
  """The latest finished checkpoint step in `workdir` (orbax names step folders by number)."""
  ckpt = workdir / "checkpoints"
  if not ckpt.is_dir():
    return None
  steps = [int(p.name) for p in ckpt.iterdir() if p.is_dir() and p.name.isdigit()]
  return max(steps) if steps else None


def planned_steps(config) -> int | None:
  """Optimizer steps the run will take (None when the dataset is not prepared here)."""
  if config.num_train_steps > 0:
    return int(config.num_train_steps)
  num_train = config.get("train_size", 0) or None
  if num_train is None:
    try:
      from experiments.data import pipeline  # Only to read the dataset's size.
      num_train = pipeline.get_info(config.dataset, data_dir=config.data_dir or None).num_train
    except Exception:  # pylint: disable=broad-except
      return None
  return int(config.num_epochs * max(1, num_train // config.batch_size))


def images_per_sec(results: list[dict], model: str) -> float | None:
  """Median training rate of this machine's finished runs of `model` (wall time, eval included)."""
  host = platform.node()
  rates = sorted(r["train_images"] / r["wall_time_s"] for r in results
                 if r.get("host") == host and r["config"]["model"] == model
                 and r.get("wall_time_s") and r.get("train_images"))
  if rates:
    return rates[len(rates) // 2]
  return _CPU_IMAGES_PER_SEC.get(model)


CLAIM_FILE = "RUNNING"


def claim_holder(workdir: pathlib.Path) -> str | None:
  """"host:pid" of the live runner holding this run, or None (no claim, or a dead one here)."""
  try:
    host, pid = (workdir / CLAIM_FILE).read_text().split()
  except (FileNotFoundError, ValueError):
    return None
  if host == platform.node():
    try:
      os.kill(int(pid), 0)
    except ProcessLookupError:
      return None
    except PermissionError:
      pass   # Alive, owned by someone else.
  return f"{host}:{pid}"


def claim(workdir: pathlib.Path) -> bool:
  """Claims the run for this process; False if another live runner holds it."""
  workdir.mkdir(parents=True, exist_ok=True)
  path = workdir / CLAIM_FILE
  me = f"{platform.node()} {os.getpid()}"
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
      if claim_holder(workdir) is not None:
        return False
      path.unlink(missing_ok=True)   # A dead runner's claim.
      continue
    with os.fdopen(fd, "w") as f:
      f.write(me)
    return True
  return False


def release(workdir: pathlib.Path) -> None:
  path = workdir / CLAIM_FILE
  if path.exists() and path.read_text().split() == [platform.node(), str(os.getpid())]:
    path.unlink()


def status_rows(study: studies.Study, results_root: pathlib.Path, workdir_root: pathlib.Path):
  """(run, state, seconds_left or None) per run; state is done / running / partial / to do."""
  finished = [json.loads(p.read_text()) for p in (results_root / study.name).glob("*.json")]
  rows = []
  for run in study.runs:
    if result_path(results_root, study, run).exists():
      rows.append((run, "done", 0.0))
      continue
    total = planned_steps(run.config)
    workdir = workdir_of(workdir_root, study, run)
    done = checkpointed_step(workdir) or 0
    holder = claim_holder(workdir)
    state = f"running ({holder})" if holder else "partial" if done else "to do"
    rate = images_per_sec(finished, run.config.model)
    left = None if total is None or rate is None else (
        max(total - done, 0) * run.config.batch_size / rate)
    rows.append((run, state, left))
  return rows


def _fmt_seconds(s: float | None) -> str:
  if s is None:
    return "?"
  return f"{s / 3600:.1f} h" if s >= 5400 else f"{s / 60:.0f} min"


def print_status(study_names: list[str], results_root: pathlib.Path,
                 workdir_root: pathlib.Path, per_run: bool) -> None:
  for name in study_names:
    study = studies.load(name)
    rows = status_rows(study, results_root, workdir_root)
    kind = lambda state: "running" if state.startswith("running") else state
    counts = {s: sum(kind(r[1]) == s for r in rows) for s in ("done", "running", "partial", "to do")}
    lefts = [r[2] for r in rows if r[1] != "done"]
    left = None if any(x is None for x in lefts) else sum(lefts)
    print(f"{name}: {counts['done']} done, {counts['running']} running, "
          f"{counts['partial']} partial, {counts['to do']} to do; "
          f"~{_fmt_seconds(left)} left on this machine — {study.question}")
    if per_run:
      for run, state, run_left in rows:
        extra = "" if state == "done" else f"  (~{_fmt_seconds(run_left)})"
        print(f"  {state:<8} {run.name}{extra}")


def read_epoch_rows(workdir: pathlib.Path) -> list[dict]:
  path = workdir / "metrics.jsonl"
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_one(study: studies.Study, run: studies.Run, results_root: pathlib.Path,
            workdir_root: pathlib.Path) -> dict:
  """Trains (or resumes) one run, analyzes it and writes its result JSON atomically."""
  from experiments import train  # Deferred: heavy imports only when something runs.
  workdir = workdir_of(workdir_root, study, run)
  workdir.mkdir(parents=True, exist_ok=True)
  t0 = time.perf_counter()
  summary = (study.train or train.train_and_evaluate)(run.config, str(workdir))
  analysis = dict(study.analyze(run, str(workdir), summary)) if study.analyze else {}
  steps = int(summary["steps"])
  result = {
      "study": study.name, "run": run.name, "tags": dict(run.tags), "seed": run.config.seed,
      "config": run.config.to_dict(), "summary": summary,
      "epochs": read_epoch_rows(workdir), "analysis": analysis,
      "train_images": steps * run.config.batch_size,
      # Time of this invocation: a resumed run counts only what was left.
      "wall_time_s": time.perf_counter() - t0,
      **provenance(),
      "command": f"python -m experiments.study {study.name} --only '{run.name}'",
  }
  write_result(result_path(results_root, study, run), result)
  return result


def check_only(study: studies.Study, only: str | None) -> None:
  if only is not None and not any(fnmatch.fnmatch(r.name, only) for r in study.runs):
    raise ValueError(f"--only {only!r} matches no run of {study.name}; runs: "
                     f"{[r.name for r in study.runs]}")


def run_study(name: str, results_root: pathlib.Path, workdir_root: pathlib.Path,
              only: str | None = None, max_runs: int | None = None) -> int:
  """Runs what is left of study `name`; returns how many runs finished."""
  study = studies.load(name)
  todo = [r for r in study.runs if not result_path(results_root, study, r).exists()
          and (only is None or fnmatch.fnmatch(r.name, only))]
  check_only(study, only)
  print(f"{name}: {len(todo)} run(s) to do")
  finished = 0
  for run in todo:
    if max_runs is not None and finished >= max_runs:
      break
    workdir = workdir_of(workdir_root, study, run)
    if result_path(results_root, study, run).exists():
      continue   # Finished by another runner meanwhile.
    if not claim(workdir):
      print(f"[{name}] {run.name}: running in {claim_holder(workdir)}, skipped", flush=True)
      continue
    try:
      if result_path(results_root, study, run).exists():
        continue
      print(f"[{name}] {run.name}", flush=True)
      result = run_one(study, run, results_root, workdir_root)
    finally:
      release(workdir)
    finished += 1
    metric = next(k for k in sorted(result["summary"]) if k.startswith("eval_"))
    print(f"[{name}] {run.name}: {metric} {result['summary'][metric]:.4f}, "
          f"{result['wall_time_s']:.0f} s -> {result_path(results_root, study, run)}", flush=True)
  return finished


def runner_command(args: argparse.Namespace) -> list[str]:
  """The command of one more runner on the same study (for `--jobs`)."""
  cmd = [sys.executable, "-m", "experiments.study", args.name,
         "--results", str(args.results), "--workdirs", str(args.workdirs)]
  return cmd + (["--only", args.only] if args.only else [])


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m experiments.study", description=__doc__.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("name", nargs="?", help=f"study to run, one of {studies.names()}")
  parser.add_argument("--list", action="store_true", help="show done / partial / to do")
  parser.add_argument("--only", help="run only runs whose name matches this glob")
  parser.add_argument("--max-runs", type=int, help="stop after this many finished runs")
  parser.add_argument("--jobs", type=int, default=1,
                      help="runners on this host, each training a different run (default 1)")
  parser.add_argument("--results", type=pathlib.Path, default=DEFAULT_RESULTS,
                      help="results folder (default: experiments/results, committed)")
  parser.add_argument("--workdirs", type=pathlib.Path, default=DEFAULT_WORKDIRS,
                      help="folder for the runs' checkpoints and logs (default: runs/studies)")
  args = parser.parse_args(argv)
  try:
    if args.max_runs is not None and args.max_runs < 1:
      raise ValueError(f"--max-runs must be >= 1, got {args.max_runs}")
    if args.list or args.name is None:
      if args.name is not None:
        studies.load(args.name)
      print_status([args.name] if args.name else studies.names(), args.results,
                   args.workdirs, per_run=args.name is not None)
      return 0
    if args.jobs < 1:
      raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    if args.jobs > 1 and args.max_runs is not None:
      raise ValueError("--jobs and --max-runs cannot be combined (which runner would stop?)")
    check_only(studies.load(args.name), args.only)
    children = [subprocess.Popen(runner_command(args)) for _ in range(args.jobs - 1)]
    try:
      run_study(args.name, args.results, args.workdirs, args.only, args.max_runs)
    finally:   # Ctrl-C reaches the children too: let them save their checkpoints.
      codes = [c.wait() for c in children]
    if any(codes):
      return max(codes)
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print(f"\nstopped; rerun `python -m experiments.study {args.name}` to resume",
          file=sys.stderr)
    return 130
  except Exception as e:  # pylint: disable=broad-except
    # A run stopped by Ctrl-C / SIGTERM / preemption after saving its checkpoint.
    if type(e).__name__ != "Interrupted":
      raise
    print(f"{e}\nstopped; rerun `python -m experiments.study {args.name}` to resume it",
          file=sys.stderr)
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())

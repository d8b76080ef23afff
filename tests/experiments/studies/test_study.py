"""experiments/study.py: runs, skips finished runs, resumes partial ones, lists, fails in one line."""

import json
import os
import platform
import subprocess
import sys

import pytest

from experiments import studies
from experiments import study as study_lib
from experiments.configs import test as test_config


def _tiny_study(steps=4):
  def config():
    c = test_config.get_config()
    c.num_train_steps = steps
    c.checkpoint_every_steps = 2
    c.save_eval_logits = True
    return c
  calls = []
  def analyze(run, workdir, summary):
    calls.append(run.name)
    return {"seen_accuracy": summary["eval_accuracy"]}
  s = studies.Study(name="tiny", question="Does the runner work?",
                    runs=studies.seeds(config, "cutmix", (0, 1), method="cutmix"),
                    analyze=analyze)
  return s, calls


@pytest.fixture
def tiny(monkeypatch):
  s, calls = _tiny_study()
  monkeypatch.setattr(studies, "load", lambda name: s if name == "tiny" else
                      (_ for _ in ()).throw(ValueError(f"unknown study {name!r}")))
  monkeypatch.setattr(studies, "names", lambda: ["tiny"])
  return s, calls


def test_run_writes_results_then_rerun_skips(tiny, tmp_path, monkeypatch, capsys):
  s, calls = tiny
  results, workdirs = tmp_path / "results", tmp_path / "runs"
  assert study_lib.run_study("tiny", results, workdirs, max_runs=1) == 1
  first = json.loads((results / "tiny" / "cutmix__seed0.json").read_text())
  assert first["run"] == "cutmix/seed0" and first["seed"] == 0
  assert first["config"]["num_train_steps"] == 4
  assert first["summary"]["steps"] == 4
  assert first["analysis"] == {"seen_accuracy": first["summary"]["eval_accuracy"]}
  assert first["epochs"] and "eval_accuracy" in first["epochs"][-1]
  assert first["git_commit"] and first["device"]["platform"] == "cpu"
  assert first["device"]["cpu_model"] and isinstance(first["device"]["cpu_isa"], list)
  assert not (results / "tiny" / "cutmix__seed1.json").exists()
  # seed1 is still to do; seed0 is done and must not train again.
  from experiments import train
  trained = []
  real = train.train_and_evaluate
  monkeypatch.setattr(train, "train_and_evaluate",
                      lambda c, w: trained.append(c.seed) or real(c, w))
  assert study_lib.run_study("tiny", results, workdirs) == 1
  assert trained == [1] and calls == ["cutmix/seed0", "cutmix/seed1"]
  assert study_lib.run_study("tiny", results, workdirs) == 0
  assert trained == [1]
  capsys.readouterr()
  study_lib.print_status(["tiny"], results, workdirs, per_run=True)
  out = capsys.readouterr().out
  assert "tiny: 2 done, 0 running, 0 partial, 0 to do" in out


def test_list_reports_partial_runs_from_their_checkpoints(tiny, tmp_path, capsys):
  s, _ = tiny
  workdir = study_lib.workdir_of(tmp_path / "runs", s, s.runs[1])
  (workdir / "checkpoints" / "2").mkdir(parents=True)
  rows = study_lib.status_rows(s, tmp_path / "results", tmp_path / "runs")
  assert [state for _, state, _ in rows] == ["to do", "partial"]
  # 4 steps of 16 images at the default resnet_small rate; the partial run has 2 left.
  assert rows[1][2] == pytest.approx(rows[0][2] / 2)
  study_lib.print_status(["tiny"], tmp_path / "results", tmp_path / "runs", per_run=True)
  out = capsys.readouterr().out
  assert "tiny: 0 done, 0 running, 1 partial, 1 to do;" in out
  assert "  partial  cutmix/seed1" in out and "  to do    cutmix/seed0" in out


def _dead_pid() -> int:
  proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  return int(proc.stdout)


def test_runners_skip_runs_claimed_by_a_live_runner_and_take_over_dead_claims(
    tiny, tmp_path, capsys):
  s, calls = tiny
  results, workdirs = tmp_path / "results", tmp_path / "runs"
  held, stale = (study_lib.workdir_of(workdirs, s, r) for r in s.runs)
  held.mkdir(parents=True)
  stale.mkdir(parents=True)
  # seed0 is held by a live process on this host (the test's parent), seed1 by a dead one.
  (held / study_lib.CLAIM_FILE).write_text(f"{platform.node()} {os.getppid()}")
  (stale / study_lib.CLAIM_FILE).write_text(f"{platform.node()} {_dead_pid()}")
  states = [state for _, state, _ in study_lib.status_rows(s, results, workdirs)]
  assert states == [f"running ({platform.node()}:{os.getppid()})", "to do"]
  assert study_lib.run_study("tiny", results, workdirs) == 1
  assert calls == ["cutmix/seed1"]
  assert "cutmix/seed0: running in" in capsys.readouterr().out
  assert not (results / "tiny" / "cutmix__seed0.json").exists()
  assert not (stale / study_lib.CLAIM_FILE).exists()   # released after the run
  assert (held / study_lib.CLAIM_FILE).exists()        # someone else's claim is left alone


def test_jobs_starts_more_runners_on_the_same_study_and_waits_for_them(
    tiny, tmp_path, monkeypatch):
  started = []

  real_popen = subprocess.Popen

  class FakeRunner:   # stands in for a runner; the parent trains the tiny study itself
    def wait(self):
      return 0

  def popen(cmd, **kwargs):   # git (the result's commit) still runs for real
    if cmd[1:3] != ["-m", "experiments.study"]:
      return real_popen(cmd, **kwargs)
    started.append(cmd)
    return FakeRunner()

  monkeypatch.setattr(study_lib.subprocess, "Popen", popen)
  results, workdirs = tmp_path / "results", tmp_path / "runs"
  assert study_lib.main(["tiny", "--jobs", "3", "--only", "cutmix/seed1", "--results",
                         str(results), "--workdirs", str(workdirs)]) == 0
  assert started == [[sys.executable, "-m", "experiments.study", "tiny", "--results",
                      str(results), "--workdirs", str(workdirs), "--only", "cutmix/seed1"]] * 2
  assert (results / "tiny" / "cutmix__seed1.json").exists()
  assert not (results / "tiny" / "cutmix__seed0.json").exists()


def test_cli_errors_are_one_line(tiny, tmp_path, capsys):
  assert study_lib.main(["nope", "--results", str(tmp_path)]) == 2
  assert capsys.readouterr().err.strip() == "error: unknown study 'nope'"
  assert study_lib.main(["tiny", "--only", "mixup/*", "--results", str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: --only 'mixup/*' matches no run of tiny") and err.count("\n") == 1
  assert study_lib.main(["tiny", "--max-runs", "0"]) == 2
  assert study_lib.main(["tiny", "--jobs", "0"]) == 2
  assert capsys.readouterr().err.endswith("error: --jobs must be >= 1, got 0\n")
  assert study_lib.main(["tiny", "--jobs", "2", "--max-runs", "1"]) == 2
  assert "cannot be combined" in capsys.readouterr().err


def test_run_names_and_duplicates_are_checked():
  with pytest.raises(ValueError, match="run name"):
    studies.Run("bad name", test_config.get_config())
  run = studies.Run("a/seed0", test_config.get_config())
  with pytest.raises(ValueError, match="duplicate run names"):
    studies.Study("x", "?", runs=[run, run])


def test_every_study_loads_and_names_its_runs_uniquely():
  for name in studies.names():
    s = studies.load(name)
    assert s.runs and s.name == name
    for run in s.runs:
      assert run.config.seed == run.tags.get("seed", run.config.seed)


_X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c avx2 fma bmi2
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c avx2 fma bmi2
"""
_ARM = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics sve sve2
CPU implementer\t: 0x41
"""


def test_cpu_info_names_the_model_and_the_vector_extensions():
  assert study_lib.cpu_info(_X86) == {"cpu_model": "AMD EPYC 7B13",
                                      "cpu_isa": ["sse4_2", "avx", "avx2", "fma"]}
  # Arm's /proc/cpuinfo has Features and no model name: the platform names the model.
  arm = study_lib.cpu_info(_ARM)
  assert arm["cpu_isa"] == ["asimd", "sve", "sve2"]
  assert arm["cpu_model"] == (platform.processor() or platform.machine())
  assert study_lib.cpu_info("")["cpu_isa"] == []

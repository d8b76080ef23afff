"""The wheel holds jaxmix only, at the one version, and the library runs with jax alone."""

import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

try:
  import tomllib
except ImportError:  # Python 3.10
  tomllib = pytest.importorskip("tomli")

import jaxmix

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_one_version_from_one_place():
  project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
  assert "version" not in project["project"], "pyproject.toml must not state a second version"
  assert "version" in project["project"]["dynamic"]
  assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jaxmix.__version__"}
  assert re.fullmatch(r"\d+\.\d+\.\d+", jaxmix.__version__), jaxmix.__version__
  # The changelog's newest entry is this version.
  changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
  assert re.findall(r"^## (\S+)", changelog, re.M)[0] == jaxmix.__version__


def test_license_and_type_marker_exist():
  assert "Apache License" in (REPO_ROOT / "LICENSE").read_text()
  assert (REPO_ROOT / "jaxmix" / "py.typed").is_file()


def test_the_library_runs_without_chex():
  # chex is a test dependency only: blocking its import must not break jaxmix.
  code = ("import sys; sys.modules['chex'] = None\n"
          "import jax, jax.numpy as jnp, jaxmix\n"
          "x, y = jaxmix.cutmix(jax.random.key(0), jnp.zeros((4, 8, 8, 3)), jnp.arange(4),"
          " num_classes=4)\n"
          "assert y.shape == (4, 4)\n")
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_wheel_holds_jaxmix_only_at_the_version(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path)],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  (wheel,) = tmp_path.glob("*.whl")
  assert wheel.name == f"jaxmix-{jaxmix.__version__}-py3-none-any.whl"
  names = zipfile.ZipFile(wheel).namelist()
  dist_info = f"jaxmix-{jaxmix.__version__}.dist-info/"
  outside = [n for n in names if not n.startswith(("jaxmix/", dist_info))]
  assert not outside, f"the wheel holds more than jaxmix: {outside}"
  assert "jaxmix/py.typed" in names and "jaxmix/_src/cutmix.py" in names
  assert any(n.startswith(dist_info) and n.endswith("LICENSE") for n in names)
  metadata = zipfile.ZipFile(wheel).read(dist_info + "METADATA").decode()
  assert f"\nVersion: {jaxmix.__version__}\n" in metadata
  requires = re.findall(r"^Requires-Dist: ([^;\n]+)$", metadata, re.M)   # not extras
  assert [r.split(">")[0].split("=")[0].strip() for r in requires] == ["jax"], requires
  check = subprocess.run([sys.executable, "-m", "twine", "check", str(wheel)],
                         capture_output=True, text=True, timeout=300)
  assert check.returncode == 0, check.stdout + check.stderr

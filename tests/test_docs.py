"""The documentation site names every public name, and the README stays a short front page."""

import pathlib
import re

import jaxmix
from jaxmix import testing

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
API = REPO_ROOT / "docs" / "api.md"
# A documented name is the target of an autodoc / py directive: `.. autofunction:: jaxmix.cutmix`.
_DIRECTIVE = re.compile(r"^\.\. (?:auto\w+|py:\w+):: (jaxmix[\w.]*)", re.M)


def _documented() -> set[str]:
  return set(_DIRECTIVE.findall(API.read_text()))


def test_every_public_name_has_an_api_entry():
  missing = sorted(f"jaxmix.{name}" for name in jaxmix.__all__
                   if f"jaxmix.{name}" not in _documented())
  assert not missing, f"docs/api.md documents no {missing}: add a directive for each"


def test_every_testing_function_has_an_api_entry():
  public = {name for name, value in vars(testing).items()
            if callable(value) and not name.startswith("_")
            and getattr(value, "__module__", None) == "jaxmix.testing"}
  assert public, "jaxmix.testing defines no public function"
  missing = sorted(f"jaxmix.testing.{n}" for n in public
                   if f"jaxmix.testing.{n}" not in _documented())
  assert not missing, f"docs/api.md documents no {missing}"


def test_api_entries_name_existing_objects():
  # A renamed or removed function leaves no stale entry behind.
  for name in _documented():
    obj = jaxmix
    for part in name.split(".")[1:]:
      assert hasattr(obj, part), f"docs/api.md documents {name}, which does not exist"
      obj = getattr(obj, part)


def test_the_directive_pattern_sees_entries():
  # Power: the parser recognizes the directives the page uses (else the tests above pass vacuously).
  assert {"jaxmix.cutmix", "jaxmix.OPS", "jaxmix.schedules"} <= _documented()


def test_readme_is_short_and_links_every_docs_page():
  readme = (REPO_ROOT / "README.md").read_text()
  assert len(readme.splitlines()) <= 150
  pages = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "docs").rglob("*.md")
                 if "_build" not in p.parts and p.name not in ("index.md", "README.md",
                                                               "changelog.md"))
  unlinked = [p for p in pages if f"({p})" not in readme]
  assert not unlinked, f"README.md links to no {unlinked}"

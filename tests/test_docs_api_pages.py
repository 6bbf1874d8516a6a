"""The API pages of the documentation site (docs/_ext/apipages.py).

The site builds them at every build from the module list in docs/conf.py; a
module that does not import must leave a note on the index, not break the
build, and the notebook cache must move to a new folder when a package
source changes.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def apipages():
    spec = importlib.util.spec_from_file_location("apipages", ROOT / "docs" / "_ext" / "apipages.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["apipages"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("apipages", None)


def test_pages_and_index(apipages, tmp_path: Path) -> None:
    skipped = apipages.write_api_pages(["floatsim.reference", "floatsim.no_such_module"], tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.rst")) == ["floatsim.reference.rst", "index.rst"]
    assert len(skipped) == 1 and "floatsim.no_such_module" in skipped[0]
    index = (tmp_path / "index.rst").read_text()
    assert "   floatsim.reference" in index
    assert "``floatsim.no_such_module``: not documented in this build" in index
    page = (tmp_path / "floatsim.reference.rst").read_text()
    # every public function of __all__ gets its directive; submodules are named, not documented
    for name in ("round_value", "encode_value", "decode_code", "neighbours"):
        assert f".. autofunction:: {name}" in page
    assert "Submodules: ``floatsim.reference.blocks``, ``floatsim.reference.random``." in page


def test_constants_take_their_comment_from_the_defining_module(apipages, tmp_path: Path) -> None:
    apipages.write_api_pages(["floatsim.vectors"], tmp_path)
    page = (tmp_path / "floatsim.vectors.rst").read_text()
    # CLASSES is defined in floatsim/vectors/classify.py with a #: comment
    assert ".. data:: CLASSES" in page
    assert "Every class with its one-line explanation" in page


def test_old_pages_go_and_unchanged_pages_stay_untouched(apipages, tmp_path: Path) -> None:
    (tmp_path / "floatsim.gone.rst").write_text("stale")
    apipages.write_api_pages(["floatsim.reference"], tmp_path)
    assert not (tmp_path / "floatsim.gone.rst").exists()
    page = tmp_path / "floatsim.reference.rst"
    os.utime(page, ns=(0, 0))            # a rewrite would set the current time
    apipages.write_api_pages(["floatsim.reference"], tmp_path)
    assert page.stat().st_mtime_ns == 0  # so an unchanged tree is not read again by Sphinx


def test_notebook_cache_follows_the_sources(apipages, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLOATSIM_NB_CACHE", str(tmp_path / "cache"))
    tree = tmp_path / "tree"
    (tree / "floatsim").mkdir(parents=True)
    source = tree / "floatsim" / "a.py"
    source.write_text("x = 1\n")
    first = apipages.notebook_cache(tree)
    assert first == apipages.notebook_cache(tree)        # unchanged sources: the same folder
    source.write_text("x = 2\n")
    second = apipages.notebook_cache(tree)
    assert second != first and second.is_dir() and first.is_dir()
    for i in range(3, 6):                                # only the newest `keep` folders stay
        source.write_text(f"x = {i}\n")
        apipages.notebook_cache(tree, keep=3)
    assert len(list((tmp_path / "cache").iterdir())) == 3

"""Sphinx configuration of floatsim's documentation site.

Build with ``make docs`` (into docs/_build/html, warnings as errors).  The
source directory is the repository root, restricted by ``include_patterns``
to docs/ and notebooks/: the pages keep the relative links that work on
GitHub (``../notebooks/01-formats.md`` from a page, ``../docs/formats.md``
from a notebook), and the built site sits under ``docs/_build/html/docs/``
with a redirect at its root.

* Pages are MyST Markdown (docs/*.md, readable on GitHub as they are).
* Notebooks are MyST Markdown notebooks (notebooks/*.md, jupytext's
  ``md:myst`` format) that MyST-NB executes during the build, through
  jupyter-cache (see :func:`notebook_cache`).
* The API reference is generated from the docstrings of the modules in
  :data:`API_MODULES` (see docs/_ext/apipages.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

from apipages import notebook_cache, write_api_pages  # noqa: E402

# ---- the API reference --------------------------------------------------
# One page per module; a module that does not import (an adapter whose
# framework is missing, a module not written yet) gets a note instead of a
# page.
API_MODULES = [
    "floatsim",
    "floatsim.blocks",
    "floatsim.reference",
    "floatsim.recipes",
    "floatsim.noise",
    "floatsim.mac",
    "floatsim.vectors",
    "floatsim_torch",
    "floatsim_jax",
]
write_api_pages(API_MODULES, DOCS / "api")

# ---- project ------------------------------------------------------------
project = "floatsim"
author = "the floatsim authors"
copyright = "2026, the floatsim authors"
try:
    import floatsim

    release = floatsim.__version__
except ImportError:  # pragma: no cover - the core always imports in a docs build
    release = "unknown"
version = release

root_doc = "docs/index"
include_patterns = ["docs/**", "notebooks/*.md"]
exclude_patterns = [
    "docs/_build",
    "docs/_ext",
    "**/.ipynb_checkpoints",
    # pruned from the directory walk (include_patterns alone would still walk them)
    ".git",
    ".venv*",
    ".peers",
    "bench",
    "cuda",
    "floatsim",
    "floatsim_jax",
    "floatsim_torch",
    "rtl",
    "scripts",
    "tests",
    "build",
    "dist",
]

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# ---- MyST ---------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
# GitHub's anchors (#element-wise-and-block-casts-cpu) keep working.
myst_heading_anchors = 4

# ---- MyST-NB: notebooks executed at build time, cached ------------------
nb_execution_mode = "cache"
nb_execution_cache_path = str(notebook_cache(ROOT))
# Per cell.  With Numba's cache warm every notebook runs in under 30 s; a cold
# cache compiles kernels inside the cells (minutes on a 2-core machine).
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# Markdown that a cell displays (a table of formats) is MyST, tables included.
nb_render_markdown_format = "myst"

# ---- autodoc ------------------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# ---- HTML ---------------------------------------------------------------
html_theme = "furo"
html_title = f"floatsim {release}"
html_static_path = ["_static"]
html_css_files = ["floatsim.css"]
# The site's root (docs/_build/html/index.html) sends the reader to docs/index.html.
html_extra_path = [str(DOCS / "_root")]
html_show_sourcelink = False

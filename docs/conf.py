"""Sphinx configuration of sep3d's documentation site (``make docs``; warnings are errors)."""
import os
import tempfile

import sep3d

project = "sep3d"
author = "the sep3d developers"
copyright = "2026, the sep3d developers"
release = version = sep3d.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Offline builds: no intersphinx (fetching inventories fails without a network).
suppress_warnings = ["config.cache", "myst.xref_missing"]

# The gallery runs every examples/plot_*.py and shows its figures; examples write their
# files to a scratch folder, never into the source tree.
os.environ.setdefault("SEP3D_EXAMPLE_OUT", tempfile.mkdtemp(prefix="sep3d-docs-"))
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
}

html_theme = "pydata_sphinx_theme"
html_title = f"sep3d {release}"
html_theme_options = {"navigation_depth": 3, "show_toc_level": 2}

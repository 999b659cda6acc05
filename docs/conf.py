"""The rlelab book: the labs with their stored outputs, the concepts, the results and the guides, as one site.

    pip install -e ".[docs]" && sphinx-build -W --keep-going -c docs . docs/_build/html

The source folder is the repository itself (-c docs names this file), so that a lab's links work the same in
Jupyter and in the book: labs/ and docs/ are read as they lie, nothing is copied. The notebooks are rendered from
their stored outputs and never executed (myst-nb, nb_execution_mode "off"); math is typeset by MathJax.
"""
project = "rlelab"
author = "the rlelab authors"
copyright = "2026, the rlelab authors"

extensions = ["myst_nb"]
root_doc = "docs/index"
include_patterns = ["docs/**.md", "labs/*.ipynb", "labs/README.md", "CONTRIBUTING.md"]
exclude_patterns = ["docs/_build/**", ".venv/**", "**/.ipynb_checkpoints/**"]

nb_execution_mode = "off"  # the stored outputs are the lesson, checked by nbval; the book never re-runs them
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links, checked by the build
suppress_warnings = ["mystnb.unknown_mime_type"]  # an ipywidgets view needs a kernel; the labs store none

html_theme = "sphinx_book_theme"
html_title = "rlelab: Residual Log-likelihood Estimation, taught"
html_logo = None
html_extra_path = ["_root"]  # index.html at the site's top, pointing at the home page
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
}
html_last_updated_fmt = None

# MathJax comes from its CDN when the book is read online. Offline (the tests here, a classroom without network),
# RLELAB_MATHJAX names a MathJax 3 "es5" folder (npm's mathjax package), copied into the book.
import os  # noqa: E402

if os.environ.get("RLELAB_MATHJAX"):
    html_static_path = [os.environ["RLELAB_MATHJAX"]]
    mathjax_path = "tex-mml-chtml.js"

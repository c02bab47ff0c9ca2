"""``python -m tessera.testing install-browser [-v]``: make sure end-to-end tests have a Chromium."""

import sys

from .browser import install_browser

USAGE = "usage: python -m tessera.testing install-browser [-v|--verbose]"

args = sys.argv[1:]
verbose = any(a in ("-v", "--verbose") for a in args)
if [a for a in args if a not in ("-v", "--verbose")] != ["install-browser"]:
    sys.exit(USAGE)
sys.exit(install_browser(verbose=verbose))

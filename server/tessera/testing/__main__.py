"""``python -m tessera.testing install-browser``: make sure end-to-end tests have a Chromium."""

import sys

from .browser import install_browser

if sys.argv[1:] != ["install-browser"]:
    sys.exit("usage: python -m tessera.testing install-browser")
sys.exit(install_browser())

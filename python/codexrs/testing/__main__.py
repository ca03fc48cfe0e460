"""``python -m codexrs.testing``: serve the scripted model until killed (prints its URL)."""

from .model import main

main()

"""`python -m livetweet` runs the command line."""

from .cli import main

main()

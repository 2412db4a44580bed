"""``python -m fleetyard.cli``: the same as ``yard``."""

from fleetyard.cli.main import main

main()

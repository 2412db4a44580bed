"""`yard`, the Fleetyard command line.

``main`` builds the command tree, ``commands/`` holds one module per command
group (thin: parse, call the SDK, hand the result to the output),
``output`` prints everything, ``views`` decides how objects look, ``session``
holds the global options and builds the SDK client, ``config`` reads and
writes profiles through the SDK.
"""

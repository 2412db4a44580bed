"""Rollouts: deploying a version of an app to its machines, in waves (see :mod:`.engine`)."""

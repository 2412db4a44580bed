"""The agent side of deployments: put one version of an app on this machine, atomically.

- :mod:`~fleetyard.agent.deployer.plan`: pure decisions (what to download, what to
  write, what to prune);
- :mod:`~fleetyard.agent.deployer.layout`, :mod:`~fleetyard.agent.deployer.cache`,
  :mod:`~fleetyard.agent.deployer.install`: the disk (atomic links, verified chunk
  cache, assembly, health command);
- :mod:`~fleetyard.agent.deployer.reuse`: unchanged files of the installed version
  hard-linked instead of written again, when their stamps prove them intact;
- :mod:`~fleetyard.agent.deployer.recovery`: what a crash left, cleaned at start;
- :mod:`~fleetyard.agent.deployer.source`: where chunk bytes come from;
- :mod:`~fleetyard.agent.deployer.deployer`: :class:`Deployer`, which runs
  ``deploy.start`` frames and reports ``deploy.update`` frames through the outbox.

Example::

    deployer = Deployer(data_dir / "apps", outbox, sources=lambda d, missing: fetch)
    deployer.recover()              # at start: clean what a crash left
    deployer.start(deployment)      # from a deploy.start frame
"""

from fleetyard.agent.deployer.deployer import (
    FINAL_STATES,
    WORK_KIND,
    Deployer,
    DeployFailed,
    DeployStore,
)
from fleetyard.agent.deployer.layout import AppLayout
from fleetyard.agent.deployer.recovery import recover_app
from fleetyard.agent.deployer.source import (
    ChunkFetchError,
    ChunkSource,
    ServerChunkSource,
    SourceFactory,
)

__all__ = [
    "FINAL_STATES",
    "WORK_KIND",
    "AppLayout",
    "ChunkFetchError",
    "ChunkSource",
    "DeployFailed",
    "DeployStore",
    "Deployer",
    "ServerChunkSource",
    "SourceFactory",
    "recover_app",
]

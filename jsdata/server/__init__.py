"""The embedded nats-server (``from jsdata.server import EmbeddedServer``): a face only.

``EmbeddedServer`` (embedded.py) runs a real nats-server as a child process on loopback;
``local_cluster()`` (cluster.py) a small JetStream cluster; ``default_server_url()``
(default.py) the per-user default server that ``jsdata.connect()`` falls back to;
``find_nats_server()`` (process.py) the binary. ``python -m jsdata.server
status|start|stop`` manages the default server.
"""

from .cluster import LocalCluster, local_cluster
from .default import (
    default_server_status,
    default_server_url,
    jsdata_home,
    main,
    stop_default_server,
)
from .embedded import EmbeddedServer
from .process import find_nats_server

__all__ = [
    "EmbeddedServer", "LocalCluster", "local_cluster", "find_nats_server", "default_server_url",
    "default_server_status", "stop_default_server", "jsdata_home", "main",
]

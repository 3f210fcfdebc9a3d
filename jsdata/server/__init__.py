"""The embedded nats-server (``from jsdata.server import EmbeddedServer``): a face only.

``python -m jsdata.server status|start|stop`` manages the per-user default server.
"""

from .embedded import (
    EmbeddedServer,
    LocalCluster,
    default_server_status,
    default_server_url,
    find_nats_server,
    jsdata_home,
    local_cluster,
    main,
    stop_default_server,
)

__all__ = [
    "EmbeddedServer", "LocalCluster", "local_cluster", "find_nats_server", "default_server_url",
    "default_server_status", "stop_default_server", "jsdata_home", "main",
]

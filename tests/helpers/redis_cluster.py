"""A throwaway Redis Cluster: 3 masters (no replicas) on free ports, created with redis-cli, removed after."""

from __future__ import annotations

import shutil
import socket
import subprocess

import redis

from tests.helpers.redis_server import RedisServer, free_port, wait_until

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too: Redis refuses ports above 55535 in cluster mode."""
    while True:
        port = free_port()
        if port <= 55_535 and _bindable(port + 10_000):
            return port


class RedisClusterServers:
    def __init__(self, masters: int = 3):
        self.nodes = [
            RedisServer(cluster_port(), aof=False, extra=("--cluster-enabled", "yes")) for _ in range(masters)
        ]

    @property
    def url(self) -> str:
        """Any node seeds the client; it discovers the rest."""
        return self.nodes[0].url

    def start(self) -> RedisClusterServers:
        try:
            for node in self.nodes:
                node.extra = (*node.extra, "--cluster-config-file", f"{node.dir}/nodes.conf")
                node.start()
            addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
            subprocess.run(
                [REDIS_CLI, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            for node in self.nodes:
                client = redis.Redis(port=node.port)
                wait_until(lambda c=client: b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO"), "cluster ok")
                client.close()
        except BaseException:
            self.cleanup()
            raise
        return self

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()

"""A throwaway Redis Cluster on free ports, created with redis-cli, removed after: 3 masters, no replicas by default;
with `replicas=1` each master gets one (for failover tests: a small cluster-node-timeout makes it quick)."""

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


def cluster_nodes(port: int) -> list[dict]:
    """CLUSTER NODES as one node sees it: [{id, port, role ("master" | "slave"), master (id or "-"), failed}]."""
    with redis.Redis(port=port) as client:
        text = client.execute_command("CLUSTER", "NODES")
    text = text.decode() if isinstance(text, bytes) else text
    nodes = []
    for line in text.strip().splitlines():
        node_id, address, flags, master = line.split()[:4]
        flags = flags.split(",")
        nodes.append(
            {
                "id": node_id,
                "port": int(address.split("@")[0].rpartition(":")[2]),
                "role": "master" if "master" in flags else "slave",
                "master": master,
                "failed": "fail" in flags or "fail?" in flags,
            }
        )
    return nodes


def cluster_ok(port: int) -> bool:
    with redis.Redis(port=port) as client:
        return b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO")


class RedisClusterServers:
    def __init__(self, masters: int = 3, *, replicas: int = 0, node_timeout_ms: int = 15_000):
        self.masters, self.replicas = masters, replicas
        extra = ("--cluster-enabled", "yes", "--cluster-node-timeout", str(node_timeout_ms))
        self.nodes = [RedisServer(cluster_port(), aof=False, extra=extra) for _ in range(masters * (1 + replicas))]

    @property
    def url(self) -> str:
        """Any node seeds the client; it discovers the rest."""
        return self.nodes[0].url

    def node(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def start(self) -> RedisClusterServers:
        try:
            for node in self.nodes:
                node.extra = (*node.extra, "--cluster-config-file", f"{node.dir}/nodes.conf")
                node.start()
            addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
            subprocess.run(
                [REDIS_CLI, "--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas)]
                + ["--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            for node in self.nodes:
                wait_until(lambda n=node: cluster_ok(n.port), "cluster ok")
            if self.replicas:
                for node in self.nodes:
                    wait_until(lambda n=node: self.synced(n.port), "every replica to sync with its master")
        except BaseException:
            self.cleanup()
            raise
        return self

    def synced(self, port: int) -> bool:
        """The node is a master, or a replica whose link to its master is up (it has had its full sync)."""
        with redis.Redis(port=port) as client:
            info = client.info("replication")
        return info["role"] == "master" or info.get("master_link_status") == "up"

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()

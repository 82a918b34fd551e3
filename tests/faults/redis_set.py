"""Redis servers of a fault test's own, so it may cut, freeze and kill them: a master behind a
TCP proxy and, with Sentinel, a replica behind another (announcing the proxy's port, so the
sentinels hand out addresses that go through the proxies) and three sentinels, each a
redis-server in a temporary folder of the set's own."""

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.tcp_proxy import TcpProxy, free_port

MASTER = "instaclone"


def wait_for(predicate, within: float, what: str):
    """Waits up to `within` seconds for `predicate()` to be true (a Redis or socket error
    counts as not yet)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (redis.exceptions.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class RedisSet:
    """`sentinel=False`: the master alone, at `url`. `down_after_ms`: how long the sentinels
    wait before they call the master down."""

    def __init__(self, *, sentinel: bool, down_after_ms: int = 1000):
        self.root = Path(tempfile.mkdtemp(prefix="instaclone-redis-"))
        self.processes: dict[str, subprocess.Popen] = {}
        self.proxies: list[TcpProxy] = []
        self.sentinel_ports: list[int] = []
        try:
            self._start_all(sentinel, down_after_ms)
        except BaseException:
            self.close()
            raise

    def _start_all(self, sentinel: bool, down_after_ms: int) -> None:
        common = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
        master_port = free_port()
        self.master_proxy = self._proxy(master_port)
        self._start("master", "--port", str(master_port), *common)
        self.url = f"redis://127.0.0.1:{self.master_proxy.port}/0"
        if not sentinel:
            wait_for(lambda: redis.Redis(port=master_port).ping(), 10, "redis-server to start")
            return
        replica_port = free_port()
        self.replica_proxy = self._proxy(replica_port)
        self._start(
            "replica",
            "--port",
            str(replica_port),
            *common,
            "--replicaof",
            "127.0.0.1",
            str(master_port),
            "--replica-announce-ip",
            "127.0.0.1",
            "--replica-announce-port",
            str(self.replica_proxy.port),
        )
        self.sentinel_ports = [free_port() for _ in range(3)]
        for i, port in enumerate(self.sentinel_ports):
            conf = self.root / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.root}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.master_proxy.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {down_after_ms}\n"
                f"sentinel failover-timeout {MASTER} 5000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            self._start(f"sentinel-{i}", str(conf), "--sentinel")
        replica = redis.Redis(port=replica_port)
        wait_for(lambda: replica.info("replication").get("master_link_status") == "up", 20, "the replica to sync")
        for port in self.sentinel_ports:
            probe = redis.Redis(port=port, decode_responses=True)
            wait_for(
                lambda s=probe: s.sentinel_master(MASTER)["num-other-sentinels"] == 2 and s.sentinel_slaves(MASTER),
                30,
                "the sentinels to know each other and the replica",
            )
        self.url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports) + f"/{MASTER}/0"

    def _proxy(self, port: int) -> TcpProxy:
        proxy = TcpProxy("127.0.0.1", port).start()
        self.proxies.append(proxy)
        return proxy

    def _start(self, name: str, *args: str) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            ["redis-server", *args], cwd=self.root, stdout=log, stderr=subprocess.STDOUT
        )

    @property
    def master(self) -> subprocess.Popen:
        return self.processes["master"]

    def promoted(self) -> bool:
        """Whether the sentinels name the replica (through its proxy) as the master."""
        probe = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1)
        address = probe.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
        return int(address[1]) == self.replica_proxy.port

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait(timeout=10)
        for proxy in self.proxies:
            proxy.close()
        shutil.rmtree(self.root, ignore_errors=True)

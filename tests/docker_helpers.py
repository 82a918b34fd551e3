"""Docker for the compose test: the CLI, compose (v2 plugin or Debian's v1), the daemon (started
here when it is installed but not running), and the images (Debian-built by
scripts/build-base-images.sh unless COMPOSE_TEST_IMAGES=public)."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "apt-get install docker.io docker-compose debootstrap"


def run(command: list[str], *, timeout: float = 60, check: bool = True, env: dict | None = None, **kwargs):
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=check, env=env, cwd=ROOT, **kwargs
    )


def docker_cli() -> str | None:
    return shutil.which("docker")


def daemon_answers() -> bool:
    try:
        return run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_command() -> list[str] | None:
    """`docker compose` where the v2 plugin answers, else Debian's `docker-compose` (v1)."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        if run(["docker", "compose", "version"], timeout=20, check=False).returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


class StartedDaemon:
    """A dockerd this test run started (and so stops)."""

    def __init__(self):
        self.log = Path(tempfile.mkstemp(prefix="instaclone-dockerd-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self, wait: float = 60) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd exited ({self.process.returncode}): {self.tail()}")
            if daemon_answers():
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"dockerd did not answer within {wait:.0f} s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def unavailable_reason() -> str | None:
    """Why the compose stack cannot run here (None: it can, the daemon answers or can be started)."""
    if docker_cli() is None:
        return f"Docker is not installed ({INSTALL_HINT})"
    if compose_command() is None:
        return f"neither `docker compose` nor `docker-compose` is installed ({INSTALL_HINT})"
    if not daemon_answers() and (shutil.which("dockerd") is None or os.geteuid() != 0):
        return "the Docker daemon does not answer, and this run cannot start one (no dockerd, or not root)"
    return None


def image_exists(name: str) -> bool:
    return run(["docker", "image", "inspect", name], timeout=30, check=False).returncode == 0


def local_image_env() -> dict[str, str]:
    """Builds (or finds, cached) the Debian-built images; returns the variables naming them."""
    result = run(["scripts/build-base-images.sh"], timeout=1800, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/build-base-images.sh failed:\n{result.stderr[-3000:]}")
    env = {}
    for line in result.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
    return env

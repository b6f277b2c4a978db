"""The embedded server launcher: idempotent, clear about conflicts, minds its own folder."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingestion import local_server
from ingestion.errors import IngestionError
from ingestion.local_server import LocalServer
from tests.servers import make_server


@pytest.fixture
def own_server() -> Iterator[LocalServer]:
    """A second server in a folder of its own, stopped and deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ingestion-own-"))
    instance = make_server(folder)
    yield instance
    local_server.stop(instance)
    shutil.rmtree(folder, ignore_errors=True)


def _server_version(server: LocalServer) -> str:
    engine = sa.create_engine(local_server.admin_url(server))
    with engine.connect() as connection:
        version = connection.execute(sa.text("show server_version")).scalar_one()
    engine.dispose()
    return version


def test_start_twice_keeps_the_running_server(own_server: LocalServer) -> None:
    first = local_server.start(own_server)
    second = local_server.start(own_server)

    assert first.running and second.running
    assert second.pid == first.pid
    assert second.port == own_server.port
    assert _server_version(own_server).startswith(first.version)


def test_stop_then_start_serves_the_same_data(own_server: LocalServer) -> None:
    local_server.start(own_server)
    engine = sa.create_engine(local_server.admin_url(own_server), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("create table kept (id int)"))
    engine.dispose()

    assert local_server.stop(own_server) is True
    assert local_server.status(own_server).running is False
    assert local_server.stop(own_server) is False
    local_server.start(own_server)

    engine = sa.create_engine(local_server.admin_url(own_server))
    with engine.connect() as connection:
        assert connection.execute(sa.text("select to_regclass('kept')")).scalar_one() == "kept"
    engine.dispose()


def test_password_is_required_over_tcp(server: LocalServer) -> None:
    url = sa.URL.create(
        "postgresql+psycopg2", username="postgres", host=local_server.HOST, port=server.port
    )
    engine = sa.create_engine(url)
    with pytest.raises(sa.exc.OperationalError, match="password"):
        engine.connect()
    engine.dispose()


def test_taken_port_is_reported_with_the_setting_to_change(own_server: LocalServer) -> None:
    with socket.socket() as squatter:
        squatter.bind((local_server.HOST, own_server.port))
        squatter.listen()
        with pytest.raises(IngestionError) as raised:
            local_server.start(own_server)

    message = str(raised.value)
    assert f"port {own_server.port}" in message
    assert "LOCAL_PG_PORT" in message
    assert not local_server.status(own_server).running


def test_data_folder_of_another_version_is_refused(own_server: LocalServer) -> None:
    own_server.data_dir.mkdir(parents=True)
    (own_server.data_dir / "PG_VERSION").write_text("9\n")

    with pytest.raises(IngestionError, match="belongs to PostgreSQL 9"):
        local_server.start(own_server)
    assert not local_server.status(own_server).running


def test_running_on_another_port_is_reported(own_server: LocalServer) -> None:
    local_server.start(own_server)
    moved = LocalServer(
        folder=own_server.folder, port=own_server.port + 1, bin_dir=own_server.bin_dir
    )

    with pytest.raises(IngestionError, match=f"already runs on port {own_server.port}"):
        local_server.start(moved)


def test_stop_leaves_servers_it_did_not_start_alone(
    own_server: LocalServer, server: LocalServer
) -> None:
    """Stopping a folder with no server must not stop the run's server on another folder."""
    assert local_server.stop(own_server) is False
    assert local_server.status(server).running
    assert _server_version(server)


def test_stale_pid_file_of_another_server_is_not_ours(
    own_server: LocalServer, server: LocalServer
) -> None:
    """A pid file left behind whose pid now belongs to another server's postmaster."""
    other = local_server.status(server)
    own_server.data_dir.mkdir(parents=True)
    (own_server.data_dir / "postmaster.pid").write_text(
        f"{other.pid}\n{own_server.data_dir}\n0\n{server.port}\n"
    )

    assert local_server.status(own_server).running is False
    assert local_server.stop(own_server) is False
    assert local_server.status(server).running

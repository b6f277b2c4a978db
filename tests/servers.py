"""Throwaway PostgreSQL servers for the tests and the benchmarks."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ingestion import local_server
from ingestion.local_server import LocalServer


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((local_server.HOST, 0))
        return probe.getsockname()[1]


def make_server(folder: Path) -> LocalServer:
    """A server description in `folder`; LOCAL_PG_BIN picks other binaries for the run."""
    chosen = os.environ.get("LOCAL_PG_BIN")
    bin_dir = Path(chosen) if chosen else local_server.embedded_bin_dir()
    return LocalServer(folder=folder, port=free_port(), bin_dir=bin_dir)

"""Throwaway PostgreSQL servers for the tests and the benchmarks."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

from ingestion import local_server
from ingestion.local_server import LocalServer

# Below Linux's ephemeral range (32768-60999), so that no outgoing connection borrows
# the port between the moment it is chosen and a server (re)starting on it.
PORTS = range(20000, 32000)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    for port in random.sample(PORTS, 200):
        with socket.socket() as probe:
            try:
                probe.bind((local_server.HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found for a test server")


def make_server(folder: Path) -> LocalServer:
    """A server description in `folder`; LOCAL_PG_BIN picks other binaries for the run."""
    chosen = os.environ.get("LOCAL_PG_BIN")
    bin_dir = Path(chosen) if chosen else local_server.embedded_bin_dir()
    return LocalServer(folder=folder, port=free_port(), bin_dir=bin_dir)

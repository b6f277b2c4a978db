"""The `ingestion` command: parse arguments, call the package, set the exit code."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from ingestion import (
    dbt_runner,
    driftlog,
    local_server,
    local_setup,
    local_standby,
    settings,
    sync,
    synclog,
)
from ingestion.datasets import create as dataset_create
from ingestion.datasets import diff as dataset_diff
from ingestion.datasets import read as dataset_read
from ingestion.datasets import refs as dataset_refs
from ingestion.datasets import store as dataset_store
from ingestion.datasets import verify as dataset_verify
from ingestion.demo import simulator
from ingestion.errors import IngestionError


def _local(args: argparse.Namespace) -> int:
    server = local_server.from_settings(settings.local_server())
    if args.action.startswith("standby-"):
        return _local_standby(args.action, server)
    if args.action == "start":
        state = local_server.start(server)
        print(
            f"PostgreSQL {state.version} runs on {local_server.HOST}:{state.port} ({server.folder})"
        )
    elif args.action == "stop":
        stopped = local_server.stop(server)
        print("stopped the local server" if stopped else "the local server was not running")
    elif args.action == "status":
        state = local_server.status(server)
        if not state.running:
            print(f"the local server in {server.folder} is not running")
            return 3
        print(
            f"PostgreSQL {state.version} runs on {local_server.HOST}:{state.port} (pid {state.pid})"
        )
    else:
        standby_port = settings.local_standby().port
        local_setup.write_env(server, Path.cwd() / ".env", source_port=standby_port)
        local_setup.provision(server, standby_port=standby_port)
    return 0


def _local_standby(action: str, primary: local_server.LocalServer) -> int:
    config = settings.local_standby()
    standby = local_standby.from_settings(primary, config)
    if action == "standby-start":
        state = local_standby.start_standby(
            primary,
            standby,
            max_standby_streaming_delay_ms=config.max_standby_streaming_delay_ms,
            hot_standby_feedback=config.hot_standby_feedback,
        )
        print(
            f"standby of {local_server.HOST}:{primary.port} runs on"
            f" {local_server.HOST}:{state.port} ({standby.folder}), caught up"
        )
    elif action == "standby-wait":
        local_standby.wait_for_replay(primary, standby, timeout=REPLAY_TIMEOUT_SECONDS)
        print("the standby has replayed everything the server has committed")
    elif action == "standby-stop":
        stopped = local_standby.stop_standby(primary, standby)
        print("stopped the standby" if stopped else "the standby was not running")
    else:
        state = local_standby.standby_status(primary, standby)
        if not state.server.running:
            print(f"the standby in {standby.folder} is not running")
            return 3
        streaming = "streaming" if state.is_streaming else "NOT streaming"
        print(
            f"standby runs on {local_server.HOST}:{state.server.port} (pid {state.server.pid}),"
            f" {streaming} from {local_server.HOST}:{primary.port}"
        )
    return 0


def _demo_databases() -> simulator.DemoDatabases:
    admin_url = settings.demo_admin_url() or local_server.admin_url(
        local_server.from_settings(settings.local_server())
    )
    return simulator.DemoDatabases(
        admin_url=admin_url,
        names={name: settings.source_url(name).database for name in simulator.DEMO_SOURCES},
    )


def _demo(args: argparse.Namespace) -> int:
    databases = _demo_databases()
    if args.action == "init":
        state = simulator.init(
            databases, scale=args.scale, seed=args.seed, go_live_at=settings.go_live_at()
        )
    elif args.action == "advance":
        state = simulator.advance(databases, hours=args.hours, to=args.to)
    else:
        state = simulator.read_state(databases)
    print(
        f"demo clock: {state.clock.isoformat()} (go-live {state.go_live_at.isoformat()},"
        f" scale {state.scale}, seed {state.seed})"
    )
    return 0


def _print_rows(rows: Sequence[synclog.TableSync]) -> None:
    for row in rows:
        print(
            f"{row.source}.{row.table_name}: {row.rows_written:,} rows loaded,"
            f" {row.deletes_found:,} deletes found, {row.detail}"
        )


def _print_outcome(outcome: sync.SyncOutcome) -> None:
    _print_rows(outcome.rows)
    if outcome.error is not None:
        print(f"ingestion: {outcome.error}", file=sys.stderr)
    result = "failed" if outcome.error is not None else "finished"
    print(f"sync {outcome.number} {result} in {outcome.seconds:.2f} s", flush=True)


def _stop_on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt


def _sync(args: argparse.Namespace) -> int:
    request = sync.SyncRequest(
        sources=tuple(args.source or ()),
        tables=tuple(args.table or ()),
        full_refresh=args.full_refresh,
    )
    if args.every is None:
        _print_rows(sync.run(request))
        return 0
    # A service manager stops the worker with SIGTERM: end it like Ctrl-C.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    sync.run_every(request, args.every, _print_outcome)
    return 0


def _ago(seconds: float) -> str:
    """A duration as a person reads it: 45 s, 12 min, 3.5 h, 2.0 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _status(args: argparse.Namespace) -> int:
    tables = synclog.latest(sa.create_engine(settings.warehouse().url()))
    if not tables:
        print("no sync has run yet: run `ingestion sync`")
        return 3
    now = datetime.now(UTC)
    for table in tables:
        row = table.last
        if table.last_ok_started_at is None:
            behind = "never synced successfully"
        else:
            behind = f"data as of {_ago((now - table.last_ok_started_at).total_seconds())} ago"
            if row.source_lag_seconds is not None:
                behind += f" plus the replica's lag ({_ago(row.source_lag_seconds)})"
        print(
            f"{row.source}.{row.table_name}: {row.status}"
            f" {_ago((now - row.finished_at).total_seconds())} ago"
            f" (load {row.load_id or '-'}): {row.detail}; {behind}"
        )
    return 1 if any(table.last.status != "ok" for table in tables) else 0


def _schema_changes(args: argparse.Namespace) -> int:
    warehouse = sa.create_engine(settings.warehouse().url())
    changes = driftlog.unacknowledged(warehouse)
    for change in changes:
        print(f"{change.detected_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC {change.describe()}")
    if not changes:
        print("no unacknowledged schema change")
        return 0
    if args.acknowledge:
        done = driftlog.acknowledge(warehouse, through=changes[-1].detected_at)
        print(f"acknowledged {done} schema change{'s' if done > 1 else ''}")
        return 0
    return 1


def _profile(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ingestion.catalog import load_catalog
    from ingestion.profile import outputs, profiler
    from ingestion.source_session import SessionLimits

    if args.table and len(args.source or ()) != 1:
        raise IngestionError("--table needs exactly one --source: name the database it is in")
    catalog = load_catalog()
    chosen = args.source or list(catalog.sources)
    urls = {}
    for source in catalog.sources:
        try:
            urls[source] = settings.source_url(source)
        except IngestionError:
            if source in chosen:
                raise
    limits = replace(
        SessionLimits.from_settings(),
        statement_timeout_seconds=settings.profile_statement_timeout_seconds(),
    )
    request = profiler.ProfileRequest(
        catalog=catalog,
        urls=urls,
        limits=limits,
        sample_rows=settings.profile_sample_rows(),
        sources=tuple(args.source or ()),
        tables=tuple(args.table or ()),
    )
    profile = profiler.run(request)
    for finding in profile.findings:
        where = ".".join(part for part in (finding.source, finding.table, finding.column) if part)
        print(f"{finding.kind} {where}: {finding.message}")
    for path in outputs.write(profile, args.output):
        print(f"wrote {path}")
    if args.merge_into:
        for path, added in outputs.merge_into(profile, args.merge_into).items():
            print(f"merged into {path}: {'; '.join(added) if added else 'nothing new'}")
    longest = profile.longest_query
    if longest:
        print(
            f"{len(profile.queries)} queries, the slowest {longest.seconds:.2f} s"
            f" ({longest.source}.{longest.table}: {longest.label})"
        )
    failed = [table.qualified for table in profile.tables if table.error]
    if failed:
        print(f"ingestion: not profiled: {', '.join(failed)} (see the report)", file=sys.stderr)
        return 1


def _dataset(args: argparse.Namespace) -> int:
    target = dataset_store.open_store(settings.datasets_url())
    if args.action == "create":
        request = dataset_create.CreateRequest(
            name=args.name,
            model=args.model,
            query=args.query,
            version=args.version,
            key=tuple(args.key or ()),
            time_column=args.time_column,
        )
        made = dataset_create.create(request, target, settings.warehouse(), Path.cwd())
        print(
            f"created {made.ref}: {made.row_count:,} rows in {len(made.files)} files,"
            f" {len(made.loads)} loads behind it, checksum {made.checksum}"
        )
        print(f"  {target.where(made.ref)}")
    elif args.action == "list":
        return _dataset_list(target, args.name)
    elif args.action == "show":
        ref = dataset_refs.parse(args.ref)
        dataset_read.manifest(target, ref)  # a missing or unreadable one is an error
        print(dataset_store.read_bytes(target, ref, dataset_store.MANIFEST).decode(), end="")
    elif args.action == "verify":
        checked = dataset_verify.verify(target, dataset_refs.parse(args.ref))
        print(
            f"{checked.ref} is intact: {len(checked.files)} files, {checked.row_count:,} rows,"
            f" checksum {checked.checksum}"
        )
    else:
        return _dataset_print_diff(
            dataset_diff.diff(
                target,
                dataset_refs.parse(args.old),
                dataset_refs.parse(args.new),
                tuple(args.key or ()),
            )
        )
    return 0


def _dataset_list(target: dataset_store.Store, name: str | None) -> int:
    names = [dataset_refs.check_name(name)] if name else dataset_store.names(target)
    if not names:
        print(f"no datasets in {target.url}: create one with `ingestion dataset create`")
        return 3
    for each in names:
        versions = dataset_store.versions(target, each)
        if not versions:
            print(f"{each}: no versions")
        for version in versions:
            made = dataset_read.manifest(target, dataset_refs.DatasetRef(each, version))
            origin = made.dbt.model if made.dbt else "query"
            print(
                f"{made.ref}  {made.created_at[:19]}Z  {made.row_count:>12,} rows"
                f"  {origin}  by {made.created_by}"
            )
    return 0


DIFF_SHOWN_KEYS = 10


def _dataset_print_diff(found: dataset_diff.Diff) -> int:
    print(f"{found.old} -> {found.new} (key {', '.join(found.key)})")
    for change in found.schema_changes:
        if change.old_type is None:
            print(f"  column added:   {change.column} {change.new_type}")
        elif change.new_type is None:
            print(f"  column removed: {change.column} {change.old_type}")
        else:
            print(f"  column retyped: {change.column} {change.old_type} -> {change.new_type}")
    for label, keys in (
        ("added", found.added),
        ("removed", found.removed),
        ("changed", found.changed),
    ):
        shown = [
            ", ".join(str(value) for value in row.values())
            for row in keys.slice(0, DIFF_SHOWN_KEYS).to_pylist()
        ]
        more = f", … {keys.num_rows - len(shown):,} more" if keys.num_rows > len(shown) else ""
        listed = f": {'; '.join(shown)}{more}" if shown else ""
        print(f"  rows {label}: {keys.num_rows:,}{listed}")
    if found.changed_columns:
        counts = ", ".join(f"{name} {count:,}" for name, count in found.changed_columns.items())
        print(f"  changed columns: {counts}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from ingestion.report import build as report_build

    written = report_build.write(
        args.output or report_build.DEFAULT_OUTPUT, args.manifest or report_build.DEFAULT_MANIFEST
    )
    shown = written.latest_day.isoformat() if written.latest_day else "no day yet"
    print(f"launch report (latest day {shown}): {written.path}")
    if written.stale_tables:
        print(
            f"ingestion: stale data, past the dbt freshness thresholds:"
            f" {', '.join(written.stale_tables)} (the report shows a warning)",
            file=sys.stderr,
        )
    return 0


def _report_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="write the launch report: one self-contained HTML page of the marts",
        description="Read the launch marts and the sync log in one read-only snapshot and"
        " write a standalone HTML report (inline CSS and SVG, nothing fetched) with the"
        " metric definitions and freshness thresholds of the dbt project.",
    )
    report.add_argument(
        "--output",
        type=Path,
        help="the HTML file to write (default .local/report/launch_report.html)",
    )
    report.add_argument(
        "--manifest",
        type=Path,
        help="dbt's manifest.json to take definitions and thresholds from"
        " (default dbt_project/target/manifest.json)",
    )


def _tool(args: argparse.Namespace) -> int:
    return dbt_runner.run(args.command, args.arguments, Path.cwd())


REPLAY_TIMEOUT_SECONDS = 120
WRAPPED_TOOLS = ("dbt", "sqlfluff")


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {value!r}") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, not {value}")
    return seconds


def _timestamp(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-06-02T00:00:00Z")
    return moment


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingestion",
        description="Replicate production read replicas into a Postgres warehouse for dbt.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the embedded PostgreSQL server")
    local.add_argument(
        "action",
        choices=[
            "start",
            "stop",
            "status",
            "setup",
            "standby-start",
            "standby-stop",
            "standby-status",
            "standby-wait",
        ],
        help="start/stop/status of the server; setup writes .env if missing and creates"
        " the warehouse and roles it names; standby-start/stop/status run a streaming"
        " standby of it on LOCAL_PG_STANDBY_PORT (a real read replica; stop deletes the"
        " copy and its replication slot); standby-wait waits until it has replayed"
        " everything committed on the server",
    )

    replicate = commands.add_parser(
        "sync",
        help="replicate the catalog's tables into the warehouse (once, or --every SECONDS)",
        description="Replicate production tables into raw_<source> schemas: incremental by"
        " cursor with a lookback, merged on the primary key, hard deletes marked, every"
        " table reconciled against the source and logged in ingestion.table_syncs."
        " Exit 1 with one line naming the source and table if anything fails or does not"
        " reconcile.",
    )
    replicate.add_argument(
        "--source", action="append", help="only this source (repeatable; default: all)"
    )
    replicate.add_argument(
        "--table",
        action="append",
        help="only this table, or tables matching this glob, of the chosen sources"
        " (repeatable; each must match a table of one of them)",
    )
    replicate.add_argument(
        "--full-refresh", action="store_true", help="drop and re-read the chosen tables"
    )
    replicate.add_argument(
        "--every",
        type=_seconds,
        metavar="SECONDS",
        help="keep running: start a sync every SECONDS (at once if one runs longer) until"
        " interrupted (Ctrl-C or SIGTERM); a failed sync is reported and the next runs",
    )
    commands.add_parser(
        "status",
        help="the last sync of every table: when, whether it reconciled, how far behind",
        description="One line per table: its last sync (ok, mismatch or failed), when, what"
        " the reconciliation found, and how old the warehouse's copy is (the start of the"
        " last successful sync, plus the replica's replication lag then). Exit 1 if any"
        " table's last sync failed or mismatched, 3 if none has run.",
    )

    changes = commands.add_parser(
        "schema-changes",
        help="source schema changes the syncs found that no one has acknowledged yet",
        description="One line per change in ingestion.schema_changes not yet acknowledged"
        " (a column added, dropped, widened…, a table added or gone), naming the source,"
        " table and column. dbt build warns while any is listed. Exit 1 if any is listed"
        " (0 with --acknowledge).",
    )
    changes.add_argument(
        "--acknowledge", action="store_true", help="mark the listed changes as acknowledged"
    )

    demo = commands.add_parser("demo", help="the simulated production system")
    demo_actions = demo.add_subparsers(dest="action", required=True)
    init = demo_actions.add_parser("init", help="(re)create the four demo databases up to go-live")
    init.add_argument("--scale", type=int, default=5000, help="users at go-live (default 5000)")
    init.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    advance = demo_actions.add_parser("advance", help="move the simulated clock forward")
    step = advance.add_mutually_exclusive_group(required=True)
    step.add_argument("--hours", type=float, help="hours to move forward")
    step.add_argument("--to", type=_timestamp, help="ISO timestamp with a zone to move to")
    demo_actions.add_parser("status", help="print the simulated clock")

    profile = commands.add_parser(
        "profile",
        help="profile the sources: sizes, keys, types, suspicious values, references",
        description="Profile source tables through read-only sessions (large tables sampled,"
        " every query under PROFILE_STATEMENT_TIMEOUT_SECONDS) and write a Markdown and an"
        " HTML report, JSON, an ER diagram docs block and a dbt sources proposal per source.",
    )
    profile.add_argument(
        "--source", action="append", help="only this source (repeatable; default: all)"
    )
    profile.add_argument(
        "--table", action="append", help="only this table or glob of --source (repeatable)"
    )
    profile.add_argument(
        "--output",
        type=Path,
        default=Path(".local/profile"),
        help="folder for the reports and proposals (default .local/profile)",
    )
    profile.add_argument(
        "--merge-into",
        type=Path,
        help="also merge each proposal into <folder>/<source>/_<source>__sources.yml, adding"
        " only what is missing (e.g. dbt_project/models/staging)",
    )
    _dataset_parser(commands)
    _report_parser(commands)

    for tool in WRAPPED_TOOLS:
        wrapped = commands.add_parser(
            tool, help=f"run {tool} in this project with the settings from the environment and .env"
        )
        wrapped.add_argument("arguments", nargs=argparse.REMAINDER, help=f"arguments for {tool}")
    return parser


def _dataset_parser(commands: argparse._SubParsersAction) -> None:
    dataset = commands.add_parser(
        "dataset",
        help="immutable, versioned exports of a dbt model or a query, with their provenance",
        description="Export a dbt model or a query once, in one snapshot of the warehouse, as"
        " Parquet files plus a manifest (query, dbt version, loads behind it, checksums)"
        " under DATASETS_URL.",
    )
    actions = dataset.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="export a new version (it can never be replaced)")
    create.add_argument("name", help="dataset name, e.g. users")
    create.add_argument("--version", help="version to create (default: today, e.g. 2026-06-01)")
    what = create.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="a dbt model, e.g. dim_users")
    what.add_argument("--query", help="an SQL select run on the warehouse")
    create.add_argument(
        "--key",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help="comma-separated columns that identify a row, for diff"
        " (default: the model's primary key or unique test)",
    )
    create.add_argument(
        "--time-column",
        help="column whose range the manifest records (default: the first timestamp)",
    )
    listing = actions.add_parser("list", help="datasets and their versions")
    listing.add_argument("name", nargs="?", help="only this dataset")
    for action, text in (
        ("show", "print a version's manifest"),
        ("verify", "recompute a version's checksums; exit 1 naming any file that changed"),
    ):
        actions.add_parser(action, help=text).add_argument("ref", help="NAME@VERSION")
    compare = actions.add_parser("diff", help="rows added, removed and changed by key")
    compare.add_argument("old", help="NAME@VERSION")
    compare.add_argument("new", help="NAME@VERSION")
    compare.add_argument(
        "--key",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help="comma-separated key columns (default: the one the manifests name)",
    )


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "dataset": _dataset,
    "local": _local,
    "sync": _sync,
    "status": _status,
    "schema-changes": _schema_changes,
    "demo": _demo,
    "profile": _profile,
    "report": _report,
    "dbt": _tool,
    "sqlfluff": _tool,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ingestion` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv and argv[0] in WRAPPED_TOOLS:
        # Everything after the tool's name is the tool's, even options argparse knows.
        args = parser.parse_args(argv[:1])
        args.arguments = argv[1:]
    else:
        args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        return COMMANDS[args.command](args)
    except IngestionError as error:
        print(f"ingestion: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ingestion: interrupted", file=sys.stderr)
        return 130

"""dlt's Postgres destination, with the two changes the exact Arrow path needs."""

from __future__ import annotations

import copy
from functools import cached_property
from typing import Any, ClassVar

import pyarrow.parquet as pq
from dlt.common.destination.capabilities import DestinationCapabilitiesContext
from dlt.common.destination.client import LoadJob
from dlt.destinations import postgres
from dlt.destinations.impl.postgres.factory import PostgresTypeMapper
from dlt.destinations.impl.postgres.postgres import PostgresClient
from dlt.destinations.job_impl import FinalizedLoadJobWithFollowupJobs


class ExactPostgresTypeMapper(PostgresTypeMapper):
    """dlt's json becomes jsonb (dlt says json for Parquet), unbounded text stays text."""

    sct_to_unbound_dbt: ClassVar[dict[str, str]] = {
        **PostgresTypeMapper.sct_to_unbound_dbt,
        "text": "text",
        "json": "jsonb",
    }
    dbt_to_sct: ClassVar[dict[str, str]] = {**PostgresTypeMapper.dbt_to_sct, "text": "text"}

    def to_destination_type(self, column: Any, table: Any) -> str:  # noqa: ANN401 - dlt's types
        """The warehouse type of a dlt column."""
        if column["data_type"] == "json":
            return "jsonb"
        return super().to_destination_type(column, table)


class EmptyFileTolerantClient(PostgresClient):
    """Completes a job whose Parquet file holds no rows instead of failing it.

    dlt writes an empty file to replace a table whose source has no rows (a full
    refresh of an emptied table); ADBC's ingest refuses a file without a batch.
    """

    def create_load_job(
        self,
        table: Any,  # noqa: ANN401 - dlt's PreparedTableSchema
        file_path: str,
        load_id: str,
        restore: bool = False,
    ) -> LoadJob:
        """dlt's job for the file, or an already completed one for an empty Parquet file."""
        if file_path.endswith(".parquet") and pq.ParquetFile(file_path).metadata.num_rows == 0:
            return FinalizedLoadJobWithFollowupJobs(file_path)
        return super().create_load_job(table, file_path, load_id, restore)


class warehouse_postgres(postgres):  # noqa: N801 - dlt names destination factories in lower case
    """The Postgres destination whose client tolerates empty Parquet files.

    It also remembers its capabilities: dlt asks for them a dozen times per sync and
    resolves the destination's whole configuration each time (about 50 ms of a worker's
    small sync). They depend only on this factory's settings and the naming convention.
    """

    def capabilities(
        self,
        config: Any = None,  # noqa: ANN401 - dlt's destination configuration
        naming: Any = None,  # noqa: ANN401 - dlt's NamingConvention
    ) -> DestinationCapabilitiesContext:
        """dlt's capabilities, computed once per naming convention when no config is given."""
        if config is not None:
            return super().capabilities(config, naming)
        key = (type(naming), getattr(naming, "max_length", None)) if naming else None
        known = self._known_capabilities
        if key not in known:
            known[key] = super().capabilities(None, naming)
        # dlt sets the file formats on what it gets: each caller gets its own copy.
        return copy.copy(known[key])

    @cached_property
    def _known_capabilities(self) -> dict[object, DestinationCapabilitiesContext]:
        return {}

    @property
    def client_class(self) -> type[PostgresClient]:
        """The job client dlt instantiates for a load."""
        return EmptyFileTolerantClient

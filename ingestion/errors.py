"""The one exception the CLI turns into a one-line message and a non-zero exit."""


class IngestionError(Exception):
    """An expected failure; its message names the setting, source or table at fault."""


class SyncRefusedError(IngestionError):
    """Another sync of the source holds its lock; this one did nothing and logs nothing."""

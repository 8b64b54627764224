"""Domain errors: each carries a message a person can act on; the apps map them to responses."""


class TickerPulseError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidTicker(TickerPulseError, ValueError):
    pass


class UnknownTicker(TickerPulseError, LookupError):
    pass


class SourceError(TickerPulseError):
    """A price source could not deliver: network failure, unknown symbol, unreadable answer."""


class SchemaError(TickerPulseError, ValueError):
    """A file or frame lacks required columns, so no row of it can be trusted."""


class EventBusUnavailable(TickerPulseError):
    """The event bus did not take an event (its buffer or a subscriber's queue stayed full):
    the caller is told, so nothing it was promised is dropped behind its back."""


class UnsafeFileName(TickerPulseError, ValueError):
    """A file name (from job config or a listing) that would reach outside its folder."""


class DependencyUnavailable(TickerPulseError):
    """A service the domain relies on did not answer within its bounded time: an error the
    caller must see (the API answers 503 naming `dependency`), never a silent default."""

    dependency = "dependency"
    retry_after_seconds = 30


class RegistryUnavailable(DependencyUnavailable):
    """The model registry failed (unreachable, timed out, or its server erred). Unlike a model
    or alias that does not exist, this says nothing about whether a champion exists."""

    dependency = "model registry"
    retry_after_seconds = 15


class LeaseHeld(TickerPulseError):
    """Another process holds the lease (a training of the same model is running): the caller
    is refused, with who holds it and since when."""


class LeaseLost(TickerPulseError):
    """The lease expired while its holder worked and another process took it: the holder must
    stop before doing anything only the lease's holder may do."""


class AliasMoved(TickerPulseError):
    """An alias no longer points at the version a decision was based on: moving it now would
    overwrite a change the decision never saw."""


class UntrustedModel(TickerPulseError):
    """A model artifact that is not a skops file of trusted types only: never deserialized."""


class OperationalDatabaseUnavailable(DependencyUnavailable):
    """The operational store's SQL database (SQLite or PostgreSQL) was unreachable, or stayed locked
    or busy past its bounded wait: the request may be tried again, it was not wrong."""

    dependency = "operational database"
    retry_after_seconds = 5


class WarehouseUnavailable(DependencyUnavailable):
    """The warehouse (chDB or a ClickHouse server) was unreachable, or its engine stayed held
    by another process past the bounded wait."""

    dependency = "warehouse"
    retry_after_seconds = 5


class TaskQueueUnavailable(DependencyUnavailable):
    """Celery's broker did not take a task within its bounded time; nothing was queued."""

    dependency = "task queue"
    retry_after_seconds = 30

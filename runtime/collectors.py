"""Prometheus collectors a process registers for its own stores, shared by the API and the
relay (each process has one registry; the domain has no Prometheus)."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from tickerpulse.stores.events import EventBus


def dead_letters(bus: EventBus) -> CounterMetricFamily:
    return CounterMetricFamily(
        "tickerpulse_dead_letters",
        "Messages this process's consumers could not handle, put on the dead-letters topic",
        value=bus.stats().get("dead_letters", 0),
    )


_collectors: dict[str, Collector] = {}


def replace_collector(slot: str, collector: Collector) -> None:
    """Register `collector` in the process's registry in place of the previous one in `slot`:
    each app reports its own stores, and a new app (as in tests) replaces the old one's."""
    previous = _collectors.pop(slot, None)
    if previous is not None:
        REGISTRY.unregister(previous)
    REGISTRY.register(collector)
    _collectors[slot] = collector

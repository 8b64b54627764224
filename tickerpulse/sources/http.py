"""Shared HTTP plumbing for network sources: one client, bounded retries, clear failures."""

from __future__ import annotations

import time

import httpx

from tickerpulse.errors import SourceError

USER_AGENT = "Mozilla/5.0 (compatible; TickerPulse/0.1; +https://github.com/tickerpulse)"
_RETRYABLE = {429, 500, 502, 503, 504}


def make_client(
    transport: httpx.BaseTransport | None = None, timeout: float = 20.0
) -> httpx.Client:
    return httpx.Client(
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
    )


def get_with_retries(
    client: httpx.Client, source: str, url: str, params: dict[str, str], attempts: int = 3
) -> httpx.Response:
    """GET with exponential backoff on transient failures; 4xx other than 429 is final."""
    for attempt in range(1, attempts + 1):
        try:
            response = client.get(url, params=params)
        except httpx.TransportError as error:
            if attempt == attempts:
                raise SourceError(f"could not reach {source}: {error}") from error
        else:
            if response.status_code not in _RETRYABLE or attempt == attempts:
                return response
        time.sleep(0.5 * 2 ** (attempt - 1))
    raise AssertionError("unreachable")

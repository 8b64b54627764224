"""Every error as application/problem+json (RFC 9457) with a sentence a person can act on."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tickerpulse.errors import (
    DependencyUnavailable,
    EventBusUnavailable,
    InvalidTicker,
    TickerPulseError,
    UnknownTicker,
)
from tickerpulse.predicting import NoModel, UnknownHorizon

PROBLEM = "application/problem+json"


class Unauthorized(Exception):
    pass


class Forbidden(Exception):
    pass


class WorkTooLarge(Exception):
    """A request asks for more work than its key may do in a whole window: waiting never helps."""


class RateLimited(Exception):
    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: str,
) -> JSONResponse:
    """`extensions`: members beyond RFC 9457's five (`dependency`, say), for clients to act on."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _describe(error: dict) -> str:
    where = ".".join(
        str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body")
    )
    given = error.get("input")
    message = error.get("msg", "invalid")
    return f"{where}: {message}" + (
        f" (got {given!r})" if given is not None and not isinstance(given, dict) else ""
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = "; ".join(_describe(e) for e in error.errors())
        return problem(request, 422, "Invalid request", detail)

    @app.exception_handler(UnknownTicker)
    async def unknown_ticker(request: Request, error: TickerPulseError) -> JSONResponse:
        return problem(request, 404, "Unknown ticker", str(error))

    @app.exception_handler(InvalidTicker)
    async def invalid_ticker(request: Request, error: TickerPulseError) -> JSONResponse:
        # Only a symbol given in a request body gets here; in a path it is an unknown ticker.
        return problem(request, 422, "Invalid ticker symbol", str(error))

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, error: Exception) -> JSONResponse:
        return problem(request, 401, "API key required", str(error), {"WWW-Authenticate": "ApiKey"})

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Exception) -> JSONResponse:
        return problem(request, 403, "Not allowed for this key", str(error))

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, error: RateLimited) -> JSONResponse:
        return problem(
            request,
            429,
            "Too many requests",
            f"{error}; retry in {error.retry_after} s",
            {"Retry-After": str(error.retry_after)},
        )

    @app.exception_handler(WorkTooLarge)
    async def work_too_large(request: Request, error: Exception) -> JSONResponse:
        return problem(request, 422, "Request larger than the key's budget", str(error))

    @app.exception_handler(UnknownHorizon)
    async def unknown_horizon(request: Request, error: Exception) -> JSONResponse:
        return problem(request, 422, "Horizon not served", str(error))

    @app.exception_handler(NoModel)
    async def no_model(request: Request, error: Exception) -> JSONResponse:
        return problem(request, 503, "No model yet", str(error), {"Retry-After": "60"})

    @app.exception_handler(EventBusUnavailable)
    async def bus_unavailable(request: Request, error: Exception) -> JSONResponse:
        # Refused before anything was promised: the client may retry, nothing was dropped.
        return problem(request, 503, "Event bus unavailable", str(error), {"Retry-After": "5"})

    @app.exception_handler(DependencyUnavailable)
    async def dependency_unavailable(
        request: Request, error: DependencyUnavailable
    ) -> JSONResponse:
        return problem(
            request,
            503,
            f"{error.dependency[:1].upper()}{error.dependency[1:]} unavailable",
            str(error),
            {"Retry-After": str(error.retry_after_seconds)},
            dependency=error.dependency,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed"}
        return problem(
            request, error.status_code, titles.get(error.status_code, "Error"), str(error.detail)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return problem(
            request, 500, "Internal error", f"{type(error).__name__}; see the server log"
        )

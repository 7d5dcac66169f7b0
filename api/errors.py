"""Map every error to a JSON body that says what is wrong: 4xx for bad input, never a 500 for it."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from automlkit.errors import AutomlKitError, DataContractError, Problem


class ApiError(AutomlKitError):
    """An error with an HTTP status and problems to report."""

    def __init__(self, status: int, detail: str, problems: list[Problem] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.problems, self.headers = status, detail, problems or [], headers


def error_response(status: int, detail: str, problems: list[Problem] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error body."""
    return JSONResponse({"detail": detail, "problems": [p.to_dict() for p in problems or []]},
                        status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(DataContractError)
    async def contract_error(_: Request, exc: DataContractError) -> JSONResponse:
        return error_response(exc.status, str(exc), exc.problems)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.detail, exc.problems, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [Problem(".".join(str(p) for p in e.get("loc", ())[1:]) or None, e.get("msg", "invalid"))
                    for e in exc.errors()[:20]]
        return error_response(422, "; ".join(str(p) for p in problems), problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

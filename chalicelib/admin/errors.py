"""Admin API errors: ``{"error": {"code", "message", "field"?, "position"?}}`` (admin-api.md)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        position: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.position = position
        self.headers = headers or {}
        self.extra: dict[str, Any] = {}  # more fields of the error object (bulk: per item)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.position is not None:
            error["position"] = self.position
        error.update(self.extra)
        return {"error": error}


def bad_request(code: str, message: str, field: str | None = None,
                position: int | None = None) -> ApiError:
    return ApiError(400, code, message, field, position)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} does not exist")


def conflict(code: str, message: str, field: str | None = None) -> ApiError:
    return ApiError(409, code, message, field)

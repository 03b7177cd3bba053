"""Request and response records shared by the sandbox's SOAP, REST, identity and admin handlers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def form(self) -> dict[str, str]:
        return {
            k: v[-1]
            for k, v in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }

    def json(self) -> dict:
        if not self.body.strip():
            return {}
        value = json.loads(self.body, parse_float=Decimal)
        if not isinstance(value, dict):
            raise ValueError("the request body must be a JSON object")
        return value


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


_DECIMAL = re.compile(r'"\\u0000dec:(-?[0-9.]+)\\u0000"')


def to_json(value: object) -> bytes:
    """JSON with Decimal written as an exact number literal (e.g. 3500.00), never through float."""

    def default(obj: object) -> object:
        if isinstance(obj, Decimal):
            return f"\u0000dec:{obj}\u0000"
        raise TypeError(f"cannot write {type(obj).__name__} as JSON")

    text = json.dumps(value, default=default, ensure_ascii=False)
    return _DECIMAL.sub(r"\1", text).encode("utf-8")


def json_response(status: int, value: object, headers: dict[str, str] | None = None) -> Response:
    return Response(status, to_json(value), "application/json; charset=utf-8", headers or {})


_ERROR_TYPES = {
    400: "validationError",
    401: "authenticationError",
    403: "authenticationError",
    429: "throttlingError",
}


def error_response(
    status: int,
    code: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    *,
    invalid_params: list[dict[str, str]] | None = None,
) -> Response:
    """The Nmbrs REST error body: `{type, httpStatus, code, title, detail[, invalid-params]}`, code an integer."""
    error_type = _ERROR_TYPES.get(status, "apiError" if status >= 500 else "invalidRequestError")
    body: dict[str, object] = {
        "type": error_type,
        "httpStatus": status,
        "code": code,
        "title": title,
        "detail": detail,
    }
    if invalid_params:
        body["invalid-params"] = invalid_params
    return json_response(status, body, headers)

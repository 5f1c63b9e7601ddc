"""The stand-in's error answers, shaped like the real server's `{"code", "message"}` bodies."""

from __future__ import annotations


class ApiError(Exception):
    """An answer other than success: HTTP status, the error `code` and a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def bad_request(message: str) -> ApiError:
    """400, as the real server answers malformed input (its messages end in `: bad request`)."""
    return ApiError(400, "Bad Request", f"{message}: bad request")


def not_found(message: str) -> ApiError:
    return ApiError(404, "Not Found", f"{message}: not found")


def conflict(message: str) -> ApiError:
    return ApiError(409, "Conflict", f"{message}: conflict")


def missing_required_field(field: str) -> ApiError:
    """422 with code `Bad Request`: the real server's answer to a required field left empty."""
    return ApiError(422, "Bad Request", f"required field '{field}' is zero value.")


def invalid_number(text: str) -> str:
    """The wording of the real server (Go's strconv) for a string that is not a number."""
    return f'strconv.ParseInt: parsing "{text}": invalid syntax'

"""An error the server answers with a given HTTP status and message."""

from __future__ import annotations


class ServingError(Exception):
    """Raised by the endpoint table and variant loading; the HTTP layer turns it into `status` + message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

"""What /_/ready reports: draining wins over the handler's load state (runtime-node's http/readiness.ts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from typing import Protocol

    class LoadStateSource(Protocol):
        @property
        def state(self) -> Any: ...


class Readiness:
    def __init__(self, handler: LoadStateSource) -> None:
        self._handler = handler
        self.draining = False

    def mark_draining(self) -> None:
        self.draining = True

    def report(self) -> dict[str, str]:
        if self.draining:
            return {'status': 'draining'}
        state = self._handler.state
        if state.status == 'failed':
            return {'status': 'failed', 'reason': state.reason}
        return {'status': state.status}

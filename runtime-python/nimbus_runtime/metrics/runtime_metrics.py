"""The runtime's metrics as served on /_/metrics: the names, help and buckets of runtime-node's
metrics/runtime-metrics.ts, so one dashboard reads replicas of either runtime."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .metrics import Counter, Gauge, Histogram

DURATION_BUCKETS_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


if TYPE_CHECKING:
    from typing import Protocol

    class LimiterStats(Protocol):
        @property
        def inflight(self) -> int: ...
        @property
        def queued(self) -> int: ...

    class HandlerStatus(Protocol):
        @property
        def loaded(self) -> bool: ...


class RuntimeMetrics:
    def __init__(self, limiter: LimiterStats, handler: HandlerStatus) -> None:
        self.requests = Counter('nimbus_runtime_requests_total', 'Function invocations by HTTP status code.')
        self.system_requests = Counter(
            'nimbus_runtime_system_requests_total',
            'Requests for the runtime\'s own /_/ routes, by route ("disguised": an encoded or dotted'
            ' spelling, refused).',
        )
        self.duration = Histogram(
            'nimbus_runtime_request_duration_seconds',
            'Time from request arrival to response, queueing included.',
            DURATION_BUCKETS_SECONDS,
        )
        start_seconds = round(time.time() * 1000) / 1000
        self._metrics = (
            self.requests,
            self.system_requests,
            self.duration,
            Gauge(
                'nimbus_runtime_inflight_requests',
                'Invocations holding a concurrency slot.',
                lambda: limiter.inflight,
            ),
            Gauge(
                'nimbus_runtime_queued_requests',
                'Invocations waiting for a concurrency slot.',
                lambda: limiter.queued,
            ),
            Gauge(
                'nimbus_runtime_handler_loaded',
                '1 once the function handler is loaded, else 0.',
                lambda: 1 if handler.loaded else 0,
            ),
            Gauge(
                'process_start_time_seconds',
                'Start time of the process since unix epoch in seconds.',
                lambda: start_seconds,
            ),
        )

    def observe(self, status_code: int, seconds: float) -> None:
        """Records one finished invocation; `status_code` 499 means the client went away first."""
        self.requests.inc({'code': str(status_code)})
        self.duration.observe(seconds)

    def observe_system(self, route: str) -> None:
        """Counts one request for an internal route, after it is answered (a scrape does not count itself)."""
        self.system_requests.inc({'route': route})

    def render(self) -> str:
        return ''.join(metric.render() for metric in self._metrics)

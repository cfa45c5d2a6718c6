"""A minimal Prometheus client: counters, gauges and a histogram rendered in the text exposition
format 0.0.4, as runtime-node's metrics/metrics.ts renders them."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

_NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z'


def format_value(value: float) -> str:
    """JavaScript's String(number) for the values metrics hold: 30 not 30.0, 0.001 as it is."""
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    if float(value).is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(float(value))


def _header(name: str, help_text: str, kind: str) -> str:
    escaped = help_text.replace('\\', '\\\\').replace('\n', '\\n')
    return f'# HELP {name} {escaped}\n# TYPE {name} {kind}\n'


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ''
    return '{' + ','.join(f'{key}="{_escape_label(labels[key])}"' for key in sorted(labels)) + '}'


def _escape_label(value: str) -> str:
    return value.replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def _check_name(name: str) -> None:
    if not re.match(_NAME, name):
        raise ValueError(f'invalid metric name {name!r}')


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        _check_name(name)
        self.name = name
        self.help = help_text
        self._series: dict[tuple[tuple[str, str], ...], float] = {}

    def inc(self, labels: dict[str, str] | None = None, by: float = 1) -> None:
        if not by >= 0:
            raise ValueError(f'counter {self.name} can only increase, got {by}')
        key = tuple(sorted((labels or {}).items()))
        self._series[key] = self._series.get(key, 0) + by

    def get(self, labels: dict[str, str] | None = None) -> float:
        return self._series.get(tuple(sorted((labels or {}).items())), 0)

    def render(self) -> str:
        out = _header(self.name, self.help, 'counter')
        for key, value in self._series.items():
            out += f'{self.name}{_labels(dict(key))} {format_value(value)}\n'
        return out


class Gauge:
    """A single unlabelled value, read from `collect` at scrape time."""

    def __init__(self, name: str, help_text: str, collect: Callable[[], float]) -> None:
        _check_name(name)
        self.name = name
        self.help = help_text
        self._collect = collect

    def render(self) -> str:
        return f'{_header(self.name, self.help, "gauge")}{self.name} {format_value(self._collect())}\n'


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: Iterable[float]) -> None:
        _check_name(name)
        self.name = name
        self.help = help_text
        self._buckets = sorted(buckets)
        if not self._buckets or not all(math.isfinite(bucket) for bucket in self._buckets):
            raise ValueError(f'histogram {name} needs finite buckets')
        self._counts = [0] * len(self._buckets)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        # Buckets are cumulative at render time; here each observation lands in its first bucket only.
        for index, upper in enumerate(self._buckets):
            if value <= upper:
                self._counts[index] += 1
                break
        self._sum += value
        self._count += 1

    def render(self) -> str:
        out = _header(self.name, self.help, 'histogram')
        cumulative = 0
        for upper, count in zip(self._buckets, self._counts):
            cumulative += count
            out += f'{self.name}_bucket{{le="{format_value(upper)}"}} {cumulative}\n'
        out += f'{self.name}_bucket{{le="+Inf"}} {self._count}\n'
        out += f'{self.name}_sum {format_value(self._sum)}\n'
        out += f'{self.name}_count {self._count}\n'
        return out

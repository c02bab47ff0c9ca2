"""``GET /bench/objects``: what a bench server's Python heap holds, for the capacity diagnosis.

Answers JSON: the number of objects the garbage collector tracks, the most common types among
them, the collector's per-generation statistics (``gc.get_stats()``), and, when the server runs
under ``PYTHONTRACEMALLOC=1``, the source lines holding the most memory. It walks the whole heap
(about a second at 10,000 pages), so only ``python -m bench.capacity_diagnosis`` calls it, never
a measured run. Environment switches, for the diagnosis only:

- ``BENCH_DIAGNOSIS=1``: time every collection (``gc.callbacks``, a clock read each; under gevent
  a collection whose finalizers switch greenlets also counts what ran meanwhile: upper bounds);
- ``BENCH_GC=off`` disables the collector, ``BENCH_GC=50000`` sets its first threshold: what the
  collector costs a burst.
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from collections import Counter

from flask import Flask, jsonify


_collecting = {"started": 0.0, "seconds": [0.0, 0.0, 0.0], "longest": [0.0, 0.0, 0.0]}


def _time_collections(phase: str, info: dict) -> None:
    """A ``gc.callbacks`` hook: the time each generation's collections take."""
    if phase == "start":
        _collecting["started"] = time.perf_counter()
    else:
        took, generation = time.perf_counter() - _collecting["started"], info["generation"]
        _collecting["seconds"][generation] += took
        _collecting["longest"][generation] = max(_collecting["longest"][generation], took)


def register(app: Flask) -> None:
    if os.environ.get("BENCH_DIAGNOSIS") and _time_collections not in gc.callbacks:  # not in measured runs
        gc.callbacks.append(_time_collections)
    setting = os.environ.get("BENCH_GC", "")  # diagnosis only: what the collector costs a burst
    if setting == "off":
        gc.disable()
    elif setting.isdigit():  # the first generation's threshold (700 by default)
        gc.set_threshold(int(setting), *gc.get_threshold()[1:])

    @app.get("/bench/objects")
    def bench_objects():
        objects = gc.get_objects()
        types = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
        answer = {"tracked": len(objects), "types": types.most_common(40), "gc": gc.get_stats(),
                  "thresholds": gc.get_threshold(), "gc_seconds": list(_collecting["seconds"]),
                  "gc_longest": list(_collecting["longest"])}
        del objects
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces([
                tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>")])
            answer["lines"] = [(str(stat.traceback), stat.size, stat.count)
                               for stat in snapshot.statistics("lineno")[:40]]
            answer["traced"] = tracemalloc.get_traced_memory()[0]
        return jsonify(answer)

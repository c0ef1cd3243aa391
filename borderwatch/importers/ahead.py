"""Work done one step ahead in a thread: while the consumer handles item N (e.g. DuckDB inserting
it, which releases the GIL), a thread produces item N+1."""
from __future__ import annotations

import contextlib
import queue
import threading
from typing import Iterator


def ahead(items: Iterator, depth: int = 1) -> Iterator:
    """``items`` produced by a thread, at most ``depth`` ahead of the consumer; an error of the
    producer is raised to the consumer, and a consumer that stops stops the producer."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((done, None))
        except BaseException as exc:  # handed to the consumer
            box.put((done, exc))

    worker = threading.Thread(target=produce, name="import-complete", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = box.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                box.get(timeout=0.1)
        worker.join()

"""Loaded only by `make test-at` (its folder is put on PYTHONPATH): the suite under a shifted clock.

`make test-at DATE="2027-01-04 10:00:00"` runs the tests under libfaketime, which moves the wall clock
(dates, `date`, PostgreSQL's client side) but, with FAKETIME_DONT_FAKE_MONOTONIC=1, leaves the
monotonic clock alone so that timeouts and waits still work. libfaketime's clock_nanosleep then
refuses Python's `time.sleep` (EINVAL); this replaces it with a wait on an event, which sleeps the
same time on the monotonic clock.
"""

import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep

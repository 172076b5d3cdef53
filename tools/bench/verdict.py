#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""The soak's verdict: how fast each sampled quantity grows per operation after warm-up, and
whether that is flat (no simulator or Cinder needed, so unit tests can check it)."""

import dataclasses

# The most each quantity may grow per operation after warm-up (least-squares slope over the
# samples). Issue 19 measured 92 KiB and 68 objects retained per operation: far above these.
LIMITS = {'rss_kib': 2.0, 'objects': 1.0, 'threads': 0, 'fds': 0, 'sessions': 0,
          'collectors': 0, 'filters': 0, 'lock_files': 0}
# Handles are also compared end to start: any growth at all fails.
HANDLES = ('threads', 'fds', 'sessions', 'collectors', 'filters', 'lock_files')


@dataclasses.dataclass(frozen=True)
class Sample:
    ops: int
    seconds: float
    rss_kib: int
    objects: int
    threads: int
    fds: int
    sessions: int
    collectors: int
    filters: int
    lock_files: int


def slope(samples: list[Sample], field: str) -> float:
    """Least-squares growth of ``field`` per operation over ``samples``."""
    xs = [s.ops for s in samples]
    ys = [getattr(s, field) for s in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def verdict(samples: list[Sample]) -> dict[str, dict]:
    """Per quantity: its slope per op after warm-up, its growth, and whether it is flat."""
    result = {}
    for field, limit in LIMITS.items():
        per_op = slope(samples, field)
        growth = getattr(samples[-1], field) - getattr(samples[0], field)
        flat = per_op <= limit and (field not in HANDLES or growth <= 0)
        result[field] = {'per_op': round(per_op, 4), 'growth': growth, 'limit': limit,
                         'flat': flat}
    return result

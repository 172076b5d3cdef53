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

"""The soak's judgement (``vmdk_volume.bench_soak.verdict``) on samples of known growth: the
leak issue 19 measured is caught, handles may not grow at all, noise without a trend passes."""

import dataclasses

from tools.bench import verdict as bench_soak

FLAT = bench_soak.Sample(ops=0, seconds=0, rss_kib=300_000, objects=1_100_000, threads=10,
                         fds=25, sessions=2, collectors=1, filters=1, lock_files=6)


def _samples(per_op: dict[str, float], noise: dict[str, int] | None = None):
    """Ten samples 300 ops apart, each field growing by ``per_op`` per operation, plus
    ``noise`` alternately added and taken away."""
    samples = []
    for i in range(10):
        ops = 300 * (i + 1)
        sign = 1 if i % 2 else -1
        samples.append(dataclasses.replace(FLAT, ops=ops, **{
            field: getattr(FLAT, field) + int(per_op.get(field, 0) * ops)
            + sign * (noise or {}).get(field, 0)
            for field in bench_soak.LIMITS}))
    return samples


def _grows(samples) -> set[str]:
    return {field for field, v in bench_soak.verdict(samples).items() if not v['flat']}


def test_the_leak_issue_19_measured_is_caught():
    assert _grows(_samples({'rss_kib': 92, 'objects': 68})) == {'rss_kib', 'objects'}


def test_one_handle_more_at_the_end_is_growth():
    samples = _samples({})
    samples[-1] = dataclasses.replace(samples[-1], fds=samples[-1].fds + 1,
                                      collectors=samples[-1].collectors + 1)
    assert _grows(samples) == {'fds', 'collectors'}


def test_noise_without_a_trend_is_flat():
    assert _grows(_samples({}, noise={'rss_kib': 2000, 'objects': 3000})) == set()

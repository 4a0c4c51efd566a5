# hydropy-generated sha256=cde58620dba138cf92ecf3fdbb7cc7a0195e2d776298a11070ae3b266d3c7150
"""Stage 'agg' of flow 'sensor_stats', compiled by hydropy from sensor_stats.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from numba import njit

from hydropy.runtime import kernels
from hydropy.runtime.stage import Stage
from hydropy.runtime.kernels import probe
from sensor_stats import add, bigger


# Numba kernels; their machine code is cached in __pycache__ beside this file.


peak_fn = njit(cache=True)(bigger)


@njit(cache=True)
def peak_kernel(tkeys, tvals, used, stamp, tick, count, limit, touched, t, keys, vals, start, init):
    """reduce_keyed 'peak' of (int64, float64) columns into a hash table (no reader needs the keys it changes)."""
    mask = tkeys.shape[0] - 1
    for i in range(start, keys.shape[0]):
        k = keys[i]
        s = probe(tkeys, used, mask, k)
        if used[s]:
            tvals[s] = peak_fn(tvals[s], vals[i])  # sensor_stats.py:29
        else:
            if count >= limit:
                return i, t, count
            tkeys[s] = k
            tvals[s] = vals[i]
            count += 1
            used[s] = True
    return keys.shape[0], t, count


total_fn = njit(cache=True)(add)


@njit(cache=True)
def total_kernel(tkeys, tvals, used, stamp, tick, count, limit, touched, t, keys, vals, start, init):
    """fold_keyed 'total' of (int64, float64) columns into a hash table (no reader needs the keys it changes)."""
    mask = tkeys.shape[0] - 1
    for i in range(start, keys.shape[0]):
        k = keys[i]
        s = probe(tkeys, used, mask, k)
        if used[s]:
            tvals[s] = total_fn(tvals[s], vals[i])  # sensor_stats.py:30
        else:
            if count >= limit:
                return i, t, count
            tkeys[s] = k
            tvals[s] = total_fn(init, vals[i])
            count += 1
            used[s] = True
    return keys.shape[0], t, count


class AggStage(Stage):
    NAME = 'agg'
    INPUTS = {'calibrate_to_agg': 'calibrate_to_agg'}
    CHANNELS_OUT = {}
    SINKS = {'peaks': ('keyed', 'peak'), 'totals': ('keyed', 'total')}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.peak = kernels.KeyedKernel(peak_kernel, '(int64, float64)', '(int64, float64)', init=None, emits=False, where="reduce_keyed 'peak' (sensor_stats.py:29)")
        self.total = kernels.KeyedKernel(total_kernel, '(int64, float64)', '(int64, float64)', init=0.0, emits=False, where="fold_keyed 'total' (sensor_stats.py:30)")
        self.warm_up()

    def tick(self, calibrate_to_agg):
        # sensor_stats.py:29  peak = reduce_keyed[fn=bigger](calibrate_to_agg)
        peak = self.peak.step(calibrate_to_agg)
        # sensor_stats.py:30  total = fold_keyed[init=float, fn=add](calibrate_to_agg)
        total = self.total.step(calibrate_to_agg)
        return {}


STAGE = AggStage

# hydropy-generated sha256=dd615c2332fab20890b9c69e3810f894009648b11fc4b2cf789caa5b5435e59e
"""Stage 'agg' of flow 'sensor_stats', compiled by hydropy from sensor_stats.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from numba import njit

from hydropy.runtime import kernels
from hydropy.runtime.stage import Stage
from sensor_stats import add, bigger


# Numba kernels; their machine code is cached in __pycache__ beside this file.


peak_fn = njit(cache=True)(bigger)


@njit(cache=True)
def peak_kernel(init, tkeys, tvals, used, count, keys, vals, start):
    """reduce_keyed 'peak': (int64, float64) columns folded into a hash table."""
    return kernels.keyed_fold(peak_fn, init, True, tkeys, tvals, used, count, keys, vals, start)  # sensor_stats.py:29


total_fn = njit(cache=True)(add)


@njit(cache=True)
def total_kernel(init, tkeys, tvals, used, count, keys, vals, start):
    """fold_keyed 'total': (int64, float64) columns folded into a hash table."""
    return kernels.keyed_fold(total_fn, init, False, tkeys, tvals, used, count, keys, vals, start)  # sensor_stats.py:30


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

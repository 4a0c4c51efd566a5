# hydropy-generated sha256=b50b3eeeafd9985de81e53830d65db0de06451ee5b59b1670beab78889aadc55
"""Stage 'main' of flow 'sensor_stats', compiled by hydropy from sensor_stats.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
import numpy as np
from numba import njit

from hydropy.runtime import kernels
from hydropy.runtime.stage import Stage
from sensor_stats import calibrate, valid


# Numba kernels; their machine code is cached in __pycache__ beside this file.


valid_fn = njit(cache=True)(valid)
calibrate_fn = njit(cache=True)(calibrate)


@njit(cache=True)
def valid_calibrate_kernel(c0, c1):
    """filter 'valid' then map 'calibrate': (int64, float64) columns -> (int64, float64) columns."""
    n = c0.shape[0]
    o0 = np.empty(n, np.int64)
    o1 = np.empty(n, np.float64)
    m = 0
    for i in range(n):
        r0 = (c0[i], c1[i])
        if not valid_fn(r0):  # sensor_stats.py:28
            continue
        r2 = calibrate_fn(r0)  # sensor_stats.py:28
        o0[m], o1[m] = r2
        m += 1
    return (o0[:m], o1[:m],)


class MainStage(Stage):
    NAME = 'main'
    INPUTS = {'readings': 'readings'}
    CHANNELS_OUT = {'calibrate_to_agg': ('hash', (0,))}
    SINKS = {}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.calibrate_2 = kernels.ChainKernel(valid_calibrate_kernel, '(int64, float64)', '(int64, float64)', where="map 'calibrate' (sensor_stats.py:28)")
        self.warm_up()

    def tick(self, readings):
        # sensor_stats.py:28  valid = filter[fn=valid](readings)  (fused into calibrate_2)
        # sensor_stats.py:28  calibrate = map[fn=calibrate](valid)
        calibrate_2 = self.calibrate_2.step(readings)
        return {'calibrate_to_agg': calibrate_2}


STAGE = MainStage

"""Sensor statistics: numeric records travel as numpy columns through Numba kernels.

The source declares its element type, so ``valid`` and ``calibrate`` fuse into one jitted
loop, and the two keyed folds keep their state in jitted hash tables of numpy arrays.
``hydropy explain examples/sensor_stats.py --kernels`` shows how each operator runs.
"""
import hydropy as hp


def valid(reading):
    return reading[1] >= 0.0


def calibrate(reading):
    return (reading[0], reading[1] * 1.5 + 0.25)


def bigger(a, b):
    return a if a >= b else b


def add(total, v):
    return total + v


flow = hp.Flow("sensor_stats")
readings = flow.source("readings", dtype=("int64", "float64"))
calibrated = readings.filter(valid, name="valid").map(calibrate, name="calibrate")
calibrated.reduce_keyed(bigger, name="peak").sink("peaks")
calibrated.fold_keyed(float, add, name="total").sink("totals")

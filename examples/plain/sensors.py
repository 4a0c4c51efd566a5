"""Plain Python over sensor readings: lifted by hydropy as they are.

    hydropy run examples/plain/sensors.py:max_per_sensor --inputs examples/plain/sensors.yaml
"""


def max_per_sensor(readings):
    """The largest reading of each sensor, and the smallest overall."""
    highest = {}
    lowest = float("inf")
    for sensor, value in readings:
        highest[sensor] = max(highest.get(sensor, value), value)
        lowest = min(lowest, value)
    return highest, lowest


def silent_sensors(registered, readings):
    """Set difference, lifted exactly: registered sensors that sent no reading (a dict of the
    sensors heard, read after its loop has ended)."""
    heard = {}
    for sensor, value in readings:
        heard[sensor] = True
    silent = set()
    for sensor in registered:
        if sensor not in heard:
            silent.add(sensor)
    return silent


def last_reading(readings):
    """The last reading of each sensor, in input order (d[k] = v on repeated keys)."""
    last = {}
    for sensor, value in readings:
        last[sensor] = value
    return last

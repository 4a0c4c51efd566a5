"""B3: a stage whose every record waits a fixed service time (standing for I/O)."""
import time

import hydropy as hp

SERVICE_SECONDS = 0.001


def serve(request):
    time.sleep(SERVICE_SECONDS)
    return request


flow = hp.Flow("io_stage")
flow.source("requests", dtype="int64").map(serve, name="serve").sink("served")

"""A program that does almost nothing per record, run on Ray by ``hydropy explore --calibrate``
to measure what a run costs besides its stages' work (:func:`.model.run_overheads`)."""
import hydropy as hp


def tag(record):
    return (record, 1)


flow = hp.Flow("calibration")
flow.source("records").map(tag, name="tag").sink("tagged")

"""B5: a join of two streams of (int64 key, float64 value) pairs, on the local target."""
import hydropy as hp

flow = hp.Flow("keyed_join")
left = flow.source("left", dtype=("int64", "float64"))
left.join(flow.source("right", dtype=("int64", "float64")), name="pairs").sink("pairs")

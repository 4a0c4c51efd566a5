"""A key-value store with lattice values: puts merge into last-writer-wins registers per key;
gets read the current value (a point-in-time read, which the analyses flag as non-monotone).

puts are ``(key, (timestamp, value))``; gets are ``(key, request_id)``.

    hydropy run examples/kvstore.py --inputs examples/kvstore.yaml
"""
import hydropy as hp
from hydropy.lattices import LWW

flow = hp.Flow("kvstore")
puts = flow.source("puts")
gets = flow.source("gets")
store = puts.lattice_fold_keyed(LWW, name="store")
store.sink("store")
answers = gets.lookup(store, name="read_store")
answers.map(lambda kq: (kq[1][0], kq[0], kq[1][1].reveal() if kq[1][1] else None),
            name="format_answer").sink("get_results")

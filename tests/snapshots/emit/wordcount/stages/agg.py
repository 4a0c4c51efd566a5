# hydropy-generated sha256=870aae1d1515a663fd1e02a81aa6b90f03233a4a0074114eb879aa719486f8cc
"""Stage 'agg' of flow 'wordcount', compiled by hydropy from wordcount.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage
from wordcount import add


class AggStage(Stage):
    NAME = 'agg'
    INPUTS = {'ones_to_agg': 'ones_to_agg'}
    CHANNELS_OUT = {}
    SINKS = {'counts': ('keyed', 'count_per_word')}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.count_per_word = ops.FoldKeyed(int, add, where="fold_keyed 'count_per_word' (wordcount.py:20)")

    def tick(self, ones_to_agg):
        # wordcount.py:20  count_per_word = fold_keyed[init=int, fn=add](ones_to_agg)
        count_per_word = self.count_per_word.step(ones_to_agg)
        return {}


STAGE = AggStage

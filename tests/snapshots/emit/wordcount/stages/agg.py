# hydropy-generated sha256=1c58e1037115cc1f1e0667f0307e5702c58dcffcabb35f2756b471605d1ce278
"""Stage 'agg' of flow 'wordcount', compiled by hydropy from wordcount.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage
from wordcount import add


def count_per_word_loop(ones_to_agg, count_per_word):
    """One pass over ones_to_agg: fold_keyed 'count_per_word' (wordcount.py:20)."""
    count_per_word_fn = count_per_word.fn
    count_per_word_table = count_per_word.value
    count_per_word_init = count_per_word.init
    for record in ones_to_agg:
        key, value = record if type(record) is tuple else count_per_word.pair(record)
        if key in count_per_word_table:
            count_per_word_table[key] = count_per_word_fn(count_per_word_table[key], value)
        else:
            key = ops.canonical_key(key)
            if key in count_per_word_table:
                count_per_word_table[key] = count_per_word_fn(count_per_word_table[key], value)
            else:
                first = count_per_word_init()
                count_per_word_table[key] = count_per_word_fn(first, value)
    return ()


class AggStage(Stage):
    NAME = 'agg'
    INPUTS = {'ones_to_agg': 'ones_to_agg'}
    CHANNELS_OUT = {}
    SINKS = {'counts': ('keyed', 'count_per_word')}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.count_per_word = ops.FoldKeyed(int, add, where="fold_keyed 'count_per_word' (wordcount.py:20)")
        self.count_per_word_loop_op = ops.Loop(count_per_word_loop, (self.count_per_word,), {6: (0, 'fn', 'pair', 'record'), 7: (0, 'fn', 'hash', 'key'), 8: (0, 'fn', 'call', ''), 11: (0, 'fn', 'hash', 'key'), 12: (0, 'fn', 'call', ''), 14: (0, 'init', 'call', ''), 15: (0, 'fn', 'call', '')})

    def tick(self, ones_to_agg):
        # wordcount.py:20  count_per_word = fold_keyed[init=int, fn=add](ones_to_agg)  (in count_per_word_loop)
        self.count_per_word_loop_op.step(ones_to_agg)
        return {}


STAGE = AggStage

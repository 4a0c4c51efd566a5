# hydropy-generated sha256=4814da4223a4cc60456ef2e0b8046472061b1baebdc2a318ace4043a98b77c4d
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
        if type(key) is not str and type(key) is not int:
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
        self.count_per_word_loop_op = ops.Loop(count_per_word_loop, (self.count_per_word,), {6: (0, 'fn', 'pair', 'record'), 9: (0, 'fn', 'hash', 'key'), 10: (0, 'fn', 'call', ''), 12: (0, 'init', 'call', ''), 13: (0, 'fn', 'call', '')})

    def tick(self, ones_to_agg):
        # wordcount.py:20  count_per_word = fold_keyed[init=int, fn=add](ones_to_agg)  (in count_per_word_loop)
        self.count_per_word_loop_op.step(ones_to_agg)
        return {}


STAGE = AggStage

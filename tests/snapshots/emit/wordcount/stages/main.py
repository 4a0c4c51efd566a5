# hydropy-generated sha256=165c522b4ce963f6464529c474f1bc73985dfbb99afe00e38d015a5c7819f150
"""Stage 'main' of flow 'wordcount', compiled by hydropy from wordcount.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage
from wordcount import split_words


def words_loop(lines, words, ones, total_words):
    """One pass over lines: flat_map 'words' (wordcount.py:18), map 'ones' (wordcount.py:19), count 'total_words' (wordcount.py:21)."""
    words_fn = words.fn
    ones_fn = ones.fn
    ones_records = []
    total_words_fresh = total_words.value is ops.UNSET
    total_words_value = 0 if total_words_fresh else total_words.value
    for record in lines:
        words_out = words_fn(record)
        for words_record in words_out:
            ones_out = ones_fn(words_record)
            ones_records.append(ones_out)
            total_words_value += 1
    total_words.value = total_words_value
    return ones_records,


class MainStage(Stage):
    NAME = 'main'
    INPUTS = {'lines': 'lines'}
    CHANNELS_OUT = {'ones_to_agg': ('direct', None)}
    SINKS = {'total': ('singleton', 'total_words')}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.words = ops.FlatMap(split_words, where="flat_map 'words' (wordcount.py:18)")
        self.ones = ops.Map((lambda word: (word, 1)), where="map 'ones' (wordcount.py:19)")
        self.total_words = ops.Count(where="count 'total_words' (wordcount.py:21)")
        self.words_loop_op = ops.Loop(words_loop, (self.words, self.ones, self.total_words,), {8: (0, 'fn', 'call', ''), 9: (0, 'fn', 'iterate', 'words_out'), 10: (1, 'fn', 'call', '')})

    def tick(self, lines):
        # wordcount.py:18  words = flat_map[fn=split_words](lines)  (with the operators below, in words_loop)
        ones, = self.words_loop_op.step(lines)
        # wordcount.py:19  ones = map[fn=lambda@19](words)  (in words_loop)
        # wordcount.py:21  total_words = count(words)  (in words_loop)
        return {'ones_to_agg': ones}


STAGE = MainStage

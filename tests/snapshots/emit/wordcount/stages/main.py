# hydropy-generated sha256=59090d185eb6f6a71340fbf46d9a4ca78a90c2993c607ac74837186531878305
"""Stage 'main' of flow 'wordcount', compiled by hydropy from wordcount.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage
from wordcount import split_words


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

    def tick(self, lines):
        # wordcount.py:18  words = flat_map[fn=split_words](lines)
        words = self.words.step(lines)
        # wordcount.py:19  ones = map[fn=lambda@19](words)
        ones = self.ones.step(words)
        # wordcount.py:21  total_words = count(words)
        total_words = self.total_words.step(words)
        return {'ones_to_agg': ones}


STAGE = MainStage

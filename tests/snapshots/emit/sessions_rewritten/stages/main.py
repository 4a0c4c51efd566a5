# hydropy-generated sha256=1d49f7a86c920712f8171f6cd351216b9381b0bcbbd6fa577a07ce8ff4d9ecca
"""Stage 'main' of flow 'sessions', compiled by hydropy from sessions.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage
from sessions import split_tag


class MainStage(Stage):
    NAME = 'main'
    INPUTS = {'events': 'events', 'owners': 'owners', 'tags': 'tags'}
    CHANNELS_OUT = {'owners_to_agg': ('direct', None), 'events_to_agg': ('direct', None), 'split_to_agg': ('direct', None)}
    SINKS = {'all_tags': ('singleton', 'all_tags')}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.split = ops.Fused(
            ('map', (lambda line: line.strip()), "map 'strip' (sessions.py:33)"),
            ('filter', (lambda line: ':' in line), "filter 'well_formed' (sessions.py:34)"),
            ('map', split_tag, "map 'split' (sessions.py:35)"),
            where="fused 'split' (sessions.py:35)")
        self.tag_only = ops.Map((lambda ut: ut[1]), where="map 'tag_only' (sessions.py:37)")
        self.all_tags = ops.Fold(set, (lambda acc, t: acc | {t}), where="fold 'all_tags' (sessions.py:37)")

    def tick(self, events, owners, tags):
        # sessions.py:35  split = fused[map=lambda@33, filter=lambda@34, map=split_tag](tags)
        split = self.split.step(tags)
        # sessions.py:37  tag_only = map[fn=lambda@37](split)
        tag_only = self.tag_only.step(split)
        # sessions.py:37  all_tags = fold[init=set, fn=lambda@37](tag_only)
        all_tags = self.all_tags.step(tag_only)
        return {'owners_to_agg': owners, 'events_to_agg': events, 'split_to_agg': split}


STAGE = MainStage

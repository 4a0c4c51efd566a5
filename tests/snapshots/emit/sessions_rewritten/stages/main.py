# hydropy-generated sha256=3153563e01bfadde65ef59835b3cca07f3165892e0027e4598395d5be5d7b713
"""Stage 'main' of flow 'sessions', compiled by hydropy from sessions.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage
from sessions import split_tag


def split_loop(tags, split, tag_only, all_tags):
    """One pass over tags: fused 'split' (sessions.py:35), map 'tag_only' (sessions.py:37), fold 'all_tags' (sessions.py:37)."""
    split_0_fn = split.chain[0].fn
    split_1_fn = split.chain[1].fn
    split_2_fn = split.chain[2].fn
    split_records = []
    tag_only_fn = tag_only.fn
    all_tags_fresh = all_tags.value is ops.UNSET
    all_tags_fn = all_tags.fn
    all_tags_init = all_tags.init
    all_tags_value = all_tags_init() if all_tags_fresh else all_tags.value
    for record in tags:
        split_0_out = split_0_fn(record)
        if split_1_fn(split_0_out):
            split_2_out = split_2_fn(split_0_out)
            split_records.append(split_2_out)
            tag_only_out = tag_only_fn(split_2_out)
            all_tags_value = all_tags_fn(all_tags_value, tag_only_out)
    all_tags.value = all_tags_value
    return split_records,


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
        self.split_loop_op = ops.Loop(split_loop, (self.split, self.tag_only, self.all_tags,), {10: (2, 'init', 'call', ''), 12: ((0, 0), 'fn', 'call', ''), 13: ((0, 1), 'fn', 'call', ''), 14: ((0, 2), 'fn', 'call', ''), 16: (1, 'fn', 'call', ''), 17: (2, 'fn', 'call', '')})

    def tick(self, events, owners, tags):
        # sessions.py:35  split = fused[map=lambda@33, filter=lambda@34, map=split_tag](tags)  (with the operators below, in split_loop)
        split, = self.split_loop_op.step(tags)
        # sessions.py:37  tag_only = map[fn=lambda@37](split)  (in split_loop)
        # sessions.py:37  all_tags = fold[init=set, fn=lambda@37](tag_only)  (in split_loop)
        return {'owners_to_agg': owners, 'events_to_agg': events, 'split_to_agg': split}


STAGE = MainStage

# hydropy-generated sha256=29ec2fb412affad3631fd2aa227e683ab4bd58fa3c7e445a440e48d8505886d7
"""Stage 'agg' of flow 'sessions', compiled by hydropy from sessions.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage
from hydropy.lattices import SealedSet, reveal_joined
from sessions import add_tag, log_event, no_events


def tags_per_user_loop(split_to_agg, tags_per_user):
    """One pass over split_to_agg: fold_keyed 'tags_per_user' (sessions.py:36)."""
    tags_per_user_fn = tags_per_user.fn
    tags_per_user_table = tags_per_user.value
    tags_per_user_init = tags_per_user.init
    for record in split_to_agg:
        key, value = record if type(record) is tuple else tags_per_user.pair(record)
        if key in tags_per_user_table:
            tags_per_user_table[key] = tags_per_user_fn(tags_per_user_table[key], value)
        else:
            key = ops.canonical_key(key)
            if key in tags_per_user_table:
                tags_per_user_table[key] = tags_per_user_fn(tags_per_user_table[key], value)
            else:
                first = tags_per_user_init()
                tags_per_user_table[key] = tags_per_user_fn(first, value)
    return ()


class AggStage(Stage):
    NAME = 'agg'
    INPUTS = {'owners_to_agg': 'owners_to_agg', 'events_to_agg': 'events_to_agg', 'split_to_agg': 'split_to_agg'}
    CHANNELS_OUT = {}
    SINKS = {'logs': ('keyed', 'log_value'), 'tags': ('keyed', 'tags_per_user')}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.log = ops.LatticeFoldKeyed(SealedSet.over((0,), no_events, log_event, True), where="lattice_fold_keyed 'log' (sessions.py:31)")
        self.with_owner = ops.JoinTable(where="join_table 'with_owner' (sessions.py:31)")
        self.log_value = ops.MapKeyed(reveal_joined, where="map 'log_value' (sessions.py:31)")
        self.tags_per_user = ops.FoldKeyed(frozenset, add_tag, where="fold_keyed 'tags_per_user' (sessions.py:36)")
        self.tags_per_user_loop_op = ops.Loop(tags_per_user_loop, (self.tags_per_user,), {6: (0, 'fn', 'pair', 'record'), 7: (0, 'fn', 'hash', 'key'), 8: (0, 'fn', 'call', ''), 11: (0, 'fn', 'hash', 'key'), 12: (0, 'fn', 'call', ''), 14: (0, 'init', 'call', ''), 15: (0, 'fn', 'call', '')})

    def tick(self, owners_to_agg, events_to_agg, split_to_agg):
        # sessions.py:31  log = lattice_fold_keyed[lattice=SealedSet[(0,), no_events, log_event, True]](events_to_agg)
        log = self.log.step(events_to_agg)
        # sessions.py:31  with_owner = join_table(log, owners_to_agg)
        with_owner = self.with_owner.step(log, owners_to_agg)
        # sessions.py:31  log_value = map[fn=reveal_joined](with_owner)
        log_value = self.log_value.step(with_owner)
        # sessions.py:36  tags_per_user = fold_keyed[init=frozenset, fn=add_tag](split_to_agg)  (in tags_per_user_loop)
        self.tags_per_user_loop_op.step(split_to_agg)
        return {}


STAGE = AggStage

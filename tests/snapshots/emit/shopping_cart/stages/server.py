# hydropy-generated sha256=ca16d56251ea6bb80d06a4eb82b286f85b2117ef20dd005ea40ed4eab1570e1a
"""Stage 'server' of flow 'shopping_cart', compiled by hydropy from shopping_cart.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage
from shopping_cart import apply_request, empty_cart


def cart_loop(tag_with_class_to_server, cart):
    """One pass over tag_with_class_to_server: fold_keyed 'cart' (shopping_cart.py:37)."""
    cart_fn = cart.fn
    cart_table = cart.value
    cart_init = cart.init
    for record in tag_with_class_to_server:
        key, value = record if type(record) is tuple else cart.pair(record)
        if key in cart_table:
            cart_table[key] = cart_fn(cart_table[key], value)
        else:
            key = ops.canonical_key(key)
            if key in cart_table:
                cart_table[key] = cart_fn(cart_table[key], value)
            else:
                first = cart_init()
                cart_table[key] = cart_fn(first, value)
    return ()


class ServerStage(Stage):
    NAME = 'server'
    INPUTS = {'tag_with_class_to_server': 'tag_with_class_to_server'}
    CHANNELS_OUT = {}
    SINKS = {'carts': ('keyed', 'cart')}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.cart = ops.FoldKeyed(empty_cart, apply_request, where="fold_keyed 'cart' (shopping_cart.py:37)")
        self.cart_loop_op = ops.Loop(cart_loop, (self.cart,), {6: (0, 'fn', 'pair', 'record'), 7: (0, 'fn', 'hash', 'key'), 8: (0, 'fn', 'call', ''), 11: (0, 'fn', 'hash', 'key'), 12: (0, 'fn', 'call', ''), 14: (0, 'init', 'call', ''), 15: (0, 'fn', 'call', '')})

    def tick(self, tag_with_class_to_server):
        # shopping_cart.py:37  cart = fold_keyed[init=empty_cart, fn=apply_request](tag_with_class_to_server)  (in cart_loop)
        self.cart_loop_op.step(tag_with_class_to_server)
        return {}


STAGE = ServerStage

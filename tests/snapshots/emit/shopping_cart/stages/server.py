# hydropy-generated sha256=471f5eb992ff569ecc34c64fae2ddd6090814aeeaa1630a1dc88dbc51a145a10
"""Stage 'server' of flow 'shopping_cart', compiled by hydropy from shopping_cart.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage
from shopping_cart import apply_request, empty_cart


class ServerStage(Stage):
    NAME = 'server'
    INPUTS = {'tag_with_class_to_server': 'tag_with_class_to_server'}
    CHANNELS_OUT = {}
    SINKS = {'carts': ('keyed', 'cart')}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.cart = ops.FoldKeyed(empty_cart, apply_request, where="fold_keyed 'cart' (shopping_cart.py:37)")

    def tick(self, tag_with_class_to_server):
        # shopping_cart.py:37  cart = fold_keyed[init=empty_cart, fn=apply_request](tag_with_class_to_server)
        cart = self.cart.step(tag_with_class_to_server)
        return {}


STAGE = ServerStage

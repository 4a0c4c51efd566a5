# hydropy-generated sha256=29d76f22faa64554c14bf4b74ccd42b43788caa60aed0a2f9a43a48dcc694455
"""Stage 'main' of flow 'shopping_cart', compiled by hydropy from shopping_cart.py.

Each tick takes the batch that arrived on every input below, runs the operators in
order once, and returns the records for each outgoing channel. Edit freely: hydropy
runs this file as it is on disk and will not overwrite it silently.
"""
from hydropy.runtime import ops
from hydropy.runtime.stage import Stage


class MainStage(Stage):
    NAME = 'main'
    INPUTS = {'requests': 'requests', 'client_classes': 'client_classes'}
    CHANNELS_OUT = {'tag_with_class_to_server': ('direct', None)}
    SINKS = {}
    CYCLES = ()

    def __init__(self, member=0, members=1, receivers=None):
        super().__init__(member, members, receivers)
        self.tag_with_class = ops.Join(where="join 'tag_with_class' (shopping_cart.py:36)")

    def tick(self, requests, client_classes):
        # shopping_cart.py:36  tag_with_class = join(requests, client_classes)
        tag_with_class = self.tag_with_class.step(requests, client_classes)
        return {'tag_with_class_to_server': tag_with_class}


STAGE = MainStage

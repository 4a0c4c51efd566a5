"""The shopping cart of the ApPLIED 2023 walk-through, design point 1: the single-node program.

Requests are ``(client, op)`` where ``op`` is ``("add", item, qty)`` or
``("checkout", n_lines)``: a checkout says how many line items the client sent before it.
Each request is joined with the client's class, then folded per client into a cart.
A checkout applies the gold-class discount and closes the cart.

    hydropy run examples/shopping_cart.py --inputs examples/shopping_cart.yaml
"""
import hydropy as hp

DISCOUNT = {"gold": 0.9, "basic": 1.0}


def empty_cart():
    return ((), "open", 0.0)


def apply_request(cart, request):
    """cart = (sorted (item, qty) pairs, status, discount); ops after a checkout are ignored."""
    (op, client_class) = request
    items, status, discount = cart
    if status == "checked_out":
        return cart
    if op[0] == "add":
        _, item, qty = op
        counts = dict(items)
        counts[item] = counts.get(item, 0) + qty
        return (tuple(sorted(counts.items())), status, discount)
    return (items, "checked_out", DISCOUNT[client_class])


flow = hp.Flow("shopping_cart")
requests = flow.source("requests")
client_classes = flow.source("client_classes")
tagged = requests.join(client_classes, name="tag_with_class")
carts = tagged.fold_keyed(empty_cart, apply_request, name="cart")
carts.sink("carts")

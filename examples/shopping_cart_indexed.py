"""The shopping cart with numbered requests: the program the seven design points start from.

Like ``shopping_cart.py`` (same carts), but each request carries its position in its client's
sequence: ``(client, (seq, op))`` where ``op`` is ``("add", item, qty)`` or
``("checkout", n_lines)``, and a checkout's ``seq`` is ``n_lines`` (it follows the n line items).
Clients number their requests, so the cart can be kept as a sealed set of indexed values that
any network order rebuilds (design point 3); the plans in ``examples/plans/shopping_cart_dp*.yaml``
are design points 1 to 7 of the ApPLIED 2023 walk-through.

    hydropy run examples/shopping_cart_indexed.py --inputs examples/shopping_cart_indexed.yaml
"""
import hydropy as hp

DISCOUNT = {"gold": 0.9, "basic": 1.0}


def empty_cart():
    return ((), "open", 0.0)


def apply_request(cart, request):
    """cart = (sorted (item, qty) pairs, status, discount); ops after a checkout are ignored."""
    ((_seq, op), client_class) = request
    items, status, discount = cart
    if status == "checked_out":
        return cart
    if op[0] == "add":
        _, item, qty = op
        counts = dict(items)
        counts[item] = counts.get(item, 0) + qty
        return (tuple(sorted(counts.items())), status, discount)
    return (items, "checked_out", DISCOUNT[client_class])


flow = hp.Flow("shopping_cart_indexed")
requests = flow.source("requests")
client_classes = flow.source("client_classes")
tagged = requests.join(client_classes, name="tag_with_class")
carts = tagged.fold_keyed(empty_cart, apply_request, name="cart")
carts.sink("carts")

"""A program for the partition tests: a join keyed by (user, item), a fold keyed by user over
the same input, and a key computed from a source's records by a helper.

orders and prices are ``((user, item), number)``; coupons are strings ``"CODE-user"``.
"""
import hydropy as hp


def add(total, n):
    return total + n


def coupon_owner(code):
    return code.split("-")[-1].lower()


flow = hp.Flow("orders")
orders = flow.source("orders")
prices = flow.source("prices")
orders.join(prices, name="priced").sink("priced")
orders.map(lambda o: (o[0][0], o[1]), name="by_user").fold_keyed(int, add, name="qty_per_user").sink("qty")
coupons = flow.source("coupons").map(lambda c: (coupon_owner(c), 1), name="owner")
coupons.fold_keyed(int, add, name="coupons_per_user").sink("coupons")

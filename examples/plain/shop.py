"""Plain Python over orders, prices and stock: lifted by hydropy as they are.

    hydropy run examples/plain/shop.py:revenue --inputs examples/plain/shop.yaml
"""
from collections import defaultdict

LIMIT = 100


def revenue(orders, prices):
    """Revenue per customer, with a price table: a lookup of the table per order."""
    price_of = {}
    for item, price in prices:
        price_of[item] = price
    totals = {}
    for customer, item, qty in orders:
        if qty > 0:
            totals[customer] = totals.get(customer, 0) + qty * price_of[item]
    return totals


def big_orders(orders):
    """Customers with an order over LIMIT units, and the largest order."""
    big = set()
    largest = 0
    for customer, item, qty in orders:
        if qty > LIMIT:
            big.add(customer)
        largest = max(largest, qty)
    return {"big": big, "largest": largest}


def running_total(payments):
    """Total, count and mean-ready sums of payments."""
    total = 0
    count = 0
    refunds = 0
    for account, amount in payments:
        if amount >= 0:
            total += amount
        else:
            refunds = refunds + -amount
        count += 1
    return total, count, refunds


def reservations(stock, requests):
    """Requested quantity per stocked item, and the requested items that are not stocked."""
    on_hand = defaultdict(int)
    for item, qty in stock:
        on_hand[item] += qty
    wanted = defaultdict(int)
    unknown = set()
    for order_id, item, qty in requests:
        if item in on_hand:
            wanted[item] += qty
        else:
            unknown.add(item)
    return wanted, unknown


def orders_with_names(customers, orders):
    """A join of two inputs: each order with its customer's name, in order (unknown: skipped)."""
    name_of = {}
    for cid, name in customers:
        name_of[cid] = name
    named = []
    for cid, item, qty in orders:
        if cid in name_of:
            named.append((name_of[cid], item, qty))
    return named


def items_by_customer(orders):
    """Group by into lists with defaultdict(list)."""
    items = defaultdict(list)
    for customer, item, qty in orders:
        items[customer].append(item)
    return items

"""Plain Python that hydropy refuses to lift, each for a reason docs/lifting.md gives."""


def top_spenders(orders):
    """Customers whose total is over 100: reads the totals after they are final (refused:
    what a loop over an accumulator sees depends on when it is read)."""
    spent = {}
    for customer, amount in orders:
        spent[customer] = spent.get(customer, 0) + amount
    top = set()
    for customer, total in spent.items():
        if total > 100:
            top.add(customer)
    return top


def reserve_in_order(stock, requests):
    """Inventory reservation first come, first served (refused: each request reads what the
    ones before it left)."""
    left = {}
    for item, qty in stock:
        left[item] = left.get(item, 0) + qty
    granted = []
    for order_id, item, qty in requests:
        if left.get(item, 0) >= qty:
            left[item] = left[item] - qty
            granted.append(order_id)
    return granted


def set_difference(a, b):
    """Set difference through two sets (refused: a set is not read at a key; the lifted form
    is the dict of sensors.silent_sensors)."""
    seen_b = set()
    for y in b:
        seen_b.add(y)
    only_a = set()
    for x in a:
        if x not in seen_b:
            only_a.add(x)
    return only_a

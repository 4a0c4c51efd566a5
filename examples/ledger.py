"""A ledger: deposits credit accounts; a withdrawal is approved when the account's balance
(read with ``lookup`` in the withdrawal's tick) covers it, and an approved withdrawal debits
the account in the next tick (through a ``cycle``). Balances are a ``fold_keyed``.

Reading balances is a point-in-time read, so the sinks depend on how the inputs are cut into
ticks (two withdrawals in one tick both see the balance before either debit): the program is
non-monotone, and every target must cut the inputs into the same ticks to agree.

deposits are ``(account, amount)``; withdrawals are ``(account, amount)``.

    hydropy run examples/ledger.py --inputs examples/ledger.yaml
"""
import hydropy as hp


def add(balance, amount):
    return balance + amount


def covered(request):
    account, (amount, balance) = request
    return balance is not None and balance >= amount


def refused(request):
    return not covered(request)


def debit(request):
    account, (amount, _) = request
    return (account, -amount)


flow = hp.Flow("ledger")
deposits = flow.source("deposits")
withdrawals = flow.source("withdrawals")
handle, debits = flow.cycle(name="debits")
balances = deposits.union(debits, name="movements").fold_keyed(int, add, name="balances")
checked = withdrawals.lookup(balances, name="check_balance")
approved = checked.filter(covered, name="approved").map(debit, name="debit")
handle.complete(approved)
approved.sink("approved")
checked.filter(refused, name="refused").sink("refused")
balances.sink("balances")

"""Plain Python over lines of text and page visits: lifted by hydropy as they are.

    hydropy run examples/plain/text.py:word_count --inputs examples/plain/text.yaml
"""
from collections import Counter
from itertools import combinations


def word_count(lines):
    """How often each word occurs."""
    counts = {}
    for line in lines:
        for word in line.lower().split():
            counts[word] = counts.get(word, 0) + 1
    return counts


def distinct_visitors(visits):
    """The users who visited any page, and how many visits there were."""
    visitors = set()
    n = 0
    for user, page in visits:
        visitors.add(user)
        n += 1
    return visitors, n


def pages_per_user(visits):
    """Group by into lists: the pages each user visited, in visit order."""
    pages = {}
    for user, page in visits:
        pages[user] = pages.get(user, []) + [page]
    return pages


def pair_counts(baskets):
    """How often each pair of distinct items is bought together."""
    together = Counter()
    for basket in baskets:
        for a, b in combinations(sorted(set(basket.split())), 2):
            together[(a, b)] += 1
    return together


def clean_readings(raw):
    """A filter-map chain: parse, drop blanks and negatives, round; in input order."""
    values = []
    for line in raw:
        text = line.strip()
        if not text:
            continue
        value = float(text)
        if value >= 0:
            values.append(round(value, 1))
    return values

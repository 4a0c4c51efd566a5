"""Word count: split lines into words, count each word, and count all words.

    hydropy run examples/wordcount.py --inputs examples/wordcount.yaml
"""
import hydropy as hp


def split_words(line):
    return line.lower().split()


def add(total, n):
    return total + n


flow = hp.Flow("wordcount")
lines = flow.source("lines")
words = lines.flat_map(split_words, name="words")
ones = words.map(lambda word: (word, 1), name="ones")
ones.fold_keyed(int, add, name="count_per_word").sink("counts")
words.count(name="total_words").sink("total")

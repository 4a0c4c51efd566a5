"""B8: the word count a user already has, as a plain function hydropy lifts."""


def word_count(lines):
    counts = {}
    for line in lines:
        for word in line.split():
            counts[word] = counts.get(word, 0) + 1
    return counts

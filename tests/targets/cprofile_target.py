"""A small program to run under `python -m cProfile -o out.prof`.

Known by construction: fib() recurses (its ncalls shows as "total/primitive"),
walk() and visit() recurse into each other, builtins (len, sorted, sum, max)
are called a known number of times, and a method and a lambda appear as well.
Runs in well under a second on every supported interpreter (2.7, 3.6+).
"""
import sys


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def walk(depth):
    if depth == 0:
        return 0
    return visit(depth) + 1


def visit(depth):
    return walk(depth - 1)


class Counter(object):
    def __init__(self):
        self.items = []

    def add(self, value):
        self.items.append(value)
        return len(self.items)


def busy(rounds):
    total = 0
    for i in range(rounds):
        total += sum(range(i % 50))
        total = max(total, i)
    return total


def main(scale):
    c = Counter()
    for i in range(200 // scale):
        c.add(i)
    ordered = sorted(c.items, key=lambda v: -v)
    fib(18 - scale)
    walk(30 // scale)
    busy(20000 // scale)
    return len(ordered)


if __name__ == "__main__":
    # --small: a tenth of the work, for the (much slower) pure-Python profile module.
    main(10 if "--small" in sys.argv else 1)

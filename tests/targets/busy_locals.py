"""A thread that rebinds its locals as fast as it can (tests/e2e/test_locals.py).

At every instant `text` is a str of "y"s, `number` an int and `pair` a tuple
of that int twice. A reader that lets the loop run on while it reads can find
an object freed and its memory reused by another; a consistent dump cannot.
"""
import sys


def churn():
    n = 0
    text = ""
    number = 1
    pair = (number, number)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while True:  # LINE:churn
        n += 1
        text = "y" * (n % 200)
        number = 7 ** (n % 40)
        pair = (number, number)


churn()

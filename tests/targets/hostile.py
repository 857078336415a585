"""A target whose names are hostile, for tests/e2e/test_faults.py (3.8+).

Its main thread spins at the bottom of a chain of functions whose code
objects are renamed (co_name, and co_qualname from 3.11) to markup, quotes,
a newline, control characters, lone surrogates (not valid UTF-8 when
encoded) and a 10,000-character name; the module's file name is hostile
too, and so is the name of a second thread running the same chain.
Prints "READY <pid>".
"""
import os
import sys
import threading

NAMES = [
    "<script>alert(1)</script>",
    "q\"u'o&te<>",
    "new\nline",
    "ctl\x01\x07\x1b[31m\x7f",
    "bad\udcff\ud800utf8",
    "semi;colon space",
    "L" * 10000,
]
FILE = "<mod>\"'&\n;.py"

SOURCE = "".join(
    "def f%d():\n    f%d()\n" % (i, i + 1) for i in range(len(NAMES))
) + "def f%d():\n    while True:\n        pass\n" % len(NAMES)


def build():
    space = {}
    exec(compile(SOURCE, FILE, "exec"), space)
    for i, name in enumerate(NAMES):
        fn = space["f%d" % i]
        changes = {"co_name": name}
        if sys.version_info >= (3, 11):
            changes["co_qualname"] = name
        fn.__code__ = fn.__code__.replace(**changes)
    return space["f0"]


def main():
    chain = build()
    t = threading.Thread(target=chain, name="|".join(NAMES))
    t.daemon = True
    t.start()
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    chain()


main()

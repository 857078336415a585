"""Frames with known variables, for `spyglass dump --locals` (tests/e2e/test_locals.py).

  closures  outer(arg, ev) -> inner()   outer keeps arg, kept and ev in cells
                                        (arg is also an argument, and changes
                                        after the cell is made); inner reads
                                        them as free variables
  many      many_locals(ev)             71 plain locals: more than dump shows

Each frame records what Python itself says its variables are (f_locals) and
its co_varnames before it parks; when every thread is parked the main thread
prints "READY " and that record as JSON: {frame: [[name, repr], ...],
frame.varnames: [name, ...]}. A repr
is Python's own for values whose repr spyglass promises to match, else the
"<TypeName at 0x...>" form spyglass documents.
"""
from __future__ import print_function

import json
import sys
import threading
import time

PY3 = sys.version_info[0] >= 3
PLAIN = (int, float, str, bytes, tuple, type(None), bool) + (() if PY3 else (long, unicode))
EXPECTED = {}


class Old:
    pass


def ref(value):
    t = type(value)
    if t in PLAIN:
        return repr(value)
    if not PY3 and t.__name__ == "instance":
        return "<%s instance at 0x%x>" % (value.__class__.__name__, id(value))
    return "<%s at 0x%x>" % (t.__name__, id(value))


def record(name, frame):
    EXPECTED[name] = [[k, ref(v)] for k, v in frame.f_locals.items()]
    EXPECTED[name + ".varnames"] = list(frame.f_code.co_varnames)


def outer(arg, ev):
    kept = (arg, u"k")
    plain = Old()
    text = u"x" * 1000

    def inner():
        total = arg + len(kept)
        record("inner", sys._getframe())
        ev.set()
        time.sleep(100000)
        return total

    arg = arg + 1
    record("outer", sys._getframe())
    return inner()


MANY = 70
exec("def many_locals(ev):\n" +
     "".join("    v%02d = %d\n" % (i, i * 3) for i in range(MANY)) +
     "    record('many_locals', sys._getframe())\n"
     "    ev.set()\n"
     "    time.sleep(100000)\n")


def main():
    events = []
    for name, target, args in [("closures", outer, (10,)), ("many", many_locals, ())]:
        ev = threading.Event()
        events.append(ev)
        t = threading.Thread(target=target, args=args + (ev,), name=name)
        t.daemon = True
        t.start()
    for ev in events:
        ev.wait()
    print("READY " + json.dumps(EXPECTED))
    sys.stdout.flush()
    time.sleep(100000)


main()

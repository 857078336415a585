"""python/value.c and value_repr.c against live interpreters, through tests/e2e/value_driver.c.

Each test starts an interpreter on TARGET (below), which builds known objects
and prints their id()s with the repr value.c must produce. Scalars and short
containers are expected to match Python's own repr exactly; `ref` spells out
the rest (cut containers, huge ints, plain objects) as value.h documents it.
The driver is compiled twice, plainly and with ASan/UBSan, and both builds run
against every interpreter.
"""
import json
import os
import subprocess

import pytest

from conftest import ROOT, interpreter_params

ALL = interpreter_params()

# The driver links value.c and what it needs; `make e2e` builds both kinds.
BUILDS = {"plain": "value_driver", "asan": "value_driver-asan"}

TARGET = r'''
from __future__ import print_function
import json, sys, threading, time
PY3 = sys.version_info[0] >= 3
INTS = (int,) if PY3 else (int, long)
TEXT = (str, bytes) if PY3 else (str, unicode)

def ref(o, depth=0):
    """The repr value.c promises (value.h), in Python."""
    t = type(o)
    if o is None or t in (bool, float) or t in TEXT:
        return repr(o)
    if t in INTS:
        digits = len(str(abs(o)))
        return repr(o) if digits <= 100 else "<int of %d digits>" % digits
    if not PY3 and t.__name__ == "instance":   # an old-style class's instance
        return "<%s instance at 0x%x>" % (o.__class__.__name__, id(o))
    if t not in (list, tuple, dict, set, frozenset):
        return "<%s at 0x%x>" % (t.__name__, id(o))
    n = len(o)
    show = 0 if depth > 2 else min(n, 5)
    if t is dict:
        body = ", ".join("%s: %s" % (ref(k, depth + 1), ref(v, depth + 1))
                         for k, v in list(o.items())[:show])
    else:
        body = ", ".join(ref(x, depth + 1) for x in list(o)[:show])
    if t is dict:
        opening, closing = "{", "}"
    elif t is list:
        opening, closing = "[", "]"
    elif t is tuple:
        opening, closing = "(", ")"
        body += "," if n == 1 and show else ""
    else:
        name = t.__name__
        if PY3 and n == 0:
            return name + "()"
        opening, closing = (("{", "}") if t is set else (name + "({", "})")) if PY3 else \
                           (name + "([", "])")
    if show < n:
        body += ", ..." if show else "..."
    return opening + body + closing + (" (len %d)" % n if show < n else "")

class Point(object):
    def __init__(self, x, y):
        self.x = x
        self.y = y
        self.label = u"p"

class Slotted(object):
    __slots__ = ("a",)

class Many(object):
    pass

class MyInt(int):
    pass

class OldStyle:
    pass

point = Point(1, 2)
reordered = Point.__new__(Point)   # attributes set in another order than the shared keys
reordered.y = "why"
reordered.x = "ex"
shown = Point.__new__(Point)       # the same, with its __dict__ materialised
shown.y = "why"
shown.x = "ex"
shown_dict = shown.__dict__
many = Many()
for i in range(40):
    setattr(many, "a%d" % i, i)
deleted = Point(7, 8)
del deleted.x
slotted = Slotted()
slotted.a = 1
myint = MyInt(7)
myint.tag = "neg"
selfref = [1]
selfref.append(selfref)

objects = {
    "none": None, "true": True, "false": False, "zero": 0, "one": 1, "minus5": -5,
    "i62": 2 ** 62, "i63": 2 ** 63, "mi63": -(2 ** 63), "big100": 2 ** 100,
    "neg70": -(2 ** 70), "dec100": 10 ** 99, "dec101": 10 ** 100, "huge": 2 ** 12000,
    "f01": 0.1, "fneg": -2.5, "f1e16": 1e16, "f1e15": 1e15, "f1em5": 1e-5, "f1em4": 1e-4,
    "fbig": 1.5e300, "finf": float("inf"), "fninf": float("-inf"), "fnan": float("nan"),
    "fnegzero": -0.0, "fexact": 123456789.125, "ftwo": 2.0, "fthird": 1 / 3.0,
    "ftiny": 5e-324,
    "ascii": "hello", "empty": "", "quote1": "it's", "quote2": 'say "hi"',
    "both": "a'b\"c", "ctrl": "tab\there\nnl\\ \x01\x7f", "latin1": u"caf\xe9",
    "ucs2": u"\u03a9mega", "ucs4": u"smile \U0001f600", "nbsp": u"a\xa0b",
    "zwsp": u"\u200bx", "bytes": b"abc\x00\xff'", "long": "x" * 100000, "escapes": b"\xff" * 100,
    "list3": [1, 2, 3], "list10": list(range(10)), "empty_list": [], "tuple1": (1,),
    "tuple_mixed": (1, u"a", None, 2.5), "empty_tuple": (),
    "nested": [[1, [2, [3, [4]]]]], "selfref": selfref,
    "dict": {u"a": 1, u"b": [1, 2]}, "dict10": dict((u"k%d" % i, i) for i in range(10)),
    "empty_dict": {}, "set3": set([1, 2, 3]), "set10": set(range(100, 110)),
    "empty_set": set(), "fset": frozenset([5]), "empty_fset": frozenset(),
    "shown_dict": shown_dict, "point": point, "objlist": [point, None],
    "reordered": reordered, "shown": shown, "many": many, "deleted": deleted,
    "slotted": slotted, "myint": myint, "old": OldStyle(),
}

stop = threading.Event()
names = [u"worker-1", u"w\xf6rker-2"]
threads = [threading.Thread(target=stop.wait, name=n if PY3 else n.encode("utf-8"))
           for n in names]
for t in threads:
    t.start()
thread_names = {}
for t in threading.enumerate():
    thread_names[str(t.ident)] = t.name if PY3 else t.name.decode("utf-8")

print(json.dumps({
    "modules": id(sys.modules),
    "objects": dict((k, [id(v), ref(v)]) for k, v in objects.items()),
    "threads": thread_names,
}))
sys.stdout.flush()
while True:
    time.sleep(1)
'''


@pytest.fixture(scope="module", params=sorted(BUILDS))
def driver(request, tmp_path_factory):
    target = os.path.join("build", "tests", BUILDS[request.param])
    subprocess.check_call(["make", "-s", target], cwd=ROOT)  # a no-op after `make e2e`
    return os.path.join(ROOT, target)


class Session(object):
    """One target interpreter and one driver attached to it."""

    def __init__(self, interp, driver):
        self.target = subprocess.Popen([interp.path, "-c", TARGET], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
        line = self.target.stdout.readline()
        if not line:
            self.close()
            raise AssertionError("target failed: %s" % self.target.stderr.read().decode())
        self.info = json.loads(line.decode())
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
        self.args = [driver, str(self.target.pid), str(interp.version[0]),
                     "%d%s" % (interp.version[1], "t" if interp.free_threaded else "")]
        self.env = env

    def run(self, commands):
        """Runs commands ("repr point", ...; names stand for the objects' ids)."""
        lines = []
        for c in commands:
            words = c.split(" ")
            words[1] = str(self.id(words[1]))
            lines.append(" ".join(words))
        proc = subprocess.run(self.args, input="\n".join(lines).encode(), env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        out = proc.stdout.decode("utf-8").split("\n")[:-1]
        assert len(out) == len(commands), (out, proc.stderr.decode())
        return out

    def one(self, command):
        return self.run([command])[0]

    def id(self, name):
        if name == "modules":
            return self.info["modules"]
        return self.info["objects"][name][0]

    def expected(self, name):
        return self.info["objects"][name][1]

    def close(self):
        self.target.kill()
        self.target.wait()
        self.target.stdout.close()
        self.target.stderr.close()


@pytest.fixture
def session(request, driver):
    s = Session(request.param, driver)
    yield s
    s.close()


def ok(text):
    return "ok " + text


def err(code):
    return "err %d" % code


SG_ENOTPY, SG_ECORRUPT, SG_ENOMEM = -4, -6, -8

REPR_EXACT = ["none", "true", "false", "zero", "one", "minus5", "i62", "i63", "mi63", "big100",
              "neg70", "dec100", "dec101", "f01", "fneg", "f1e16", "f1e15", "f1em5", "f1em4",
              "fbig", "finf", "fninf", "fnan", "fnegzero", "fexact", "ftwo", "fthird", "ftiny",
              "ascii", "empty", "quote1", "quote2", "both", "ctrl", "latin1", "ucs2", "ucs4",
              "nbsp", "zwsp", "bytes", "list3", "list10", "empty_list", "tuple1",
              "tuple_mixed", "empty_tuple", "nested", "selfref", "dict", "dict10",
              "empty_dict", "set3", "set10", "empty_set", "fset", "empty_fset", "shown_dict",
              "point", "objlist", "slotted", "old"]


@pytest.mark.parametrize("session", ALL, indirect=True)
def test_value_repr_matches_python(session):
    out = session.run(["repr " + name for name in REPR_EXACT])
    got = dict(zip(REPR_EXACT, out))
    want = dict((name, ok(session.expected(name))) for name in REPR_EXACT)
    assert got == want


@pytest.mark.parametrize("session", ALL, indirect=True)
def test_value_repr_of_known_values(session):
    py2 = session.args[2] == "2"
    out = session.run(["repr big100", "repr neg70", "repr huge", "repr ucs4", "repr latin1",
                       "repr list10", "repr set3", "repr dec101"])
    assert out[0] == ok("1267650600228229401496703205376" + ("L" if py2 else ""))
    assert out[1] == ok("-1180591620717411303424" + ("L" if py2 else ""))
    assert out[2] == ok("<int of about 3613 digits>")
    assert out[3] == ok(u"u'smile \\U0001f600'" if py2 else u"'smile \U0001f600'")
    assert out[4] == ok(u"u'caf\\xe9'" if py2 else u"'caf\xe9'")
    assert out[5] == ok("[0, 1, 2, 3, 4, ...] (len 10)")
    assert out[6] == ok("set([1, 2, 3])" if py2 else "{1, 2, 3}")
    assert out[7] == ok("<int of 101 digits>")


@pytest.mark.parametrize("session", ALL, indirect=True)
def test_value_repr_cuts_long_output(session):
    out = session.run(["repr list10 20", "repr long", "repr dict10 30"])
    assert out[0] == ok("[0, 1, 2, 3, 4, ...")
    assert out[1].startswith(ok("'" + "x" * 4000)) and out[1].endswith("x...")
    assert len(out[1]) < 4200
    full = session.expected("dict10")
    assert out[2] == ok(full[:26] + "...")


@pytest.mark.parametrize("session", ALL, indirect=True)
def test_value_repr_never_cuts_inside_a_token(session):
    out = session.run(["repr escapes 20", "repr big100 20", "repr big100 40"])
    full = session.expected("escapes")  # b'\xff\xff...' (2.7: '\xff\xff...')
    opening = full.index("\\")
    # Room for 16 bytes and "...": whole 4-byte escapes after the opening quote.
    assert out[0] == ok(full[:opening + (16 - opening) // 4 * 4] + "...")
    assert out[1] == ok("...")
    assert out[2] == ok(session.expected("big100"))


@pytest.mark.parametrize("session", ALL, indirect=True)
def test_value_read_int(session):
    out = session.run(["int minus5", "int i62", "int mi63", "int i63", "int big100", "int true",
                       "int zero", "int ascii"])
    assert out == [ok("-5"), ok(str(2 ** 62)), ok(str(-(2 ** 63))), err(SG_ENOMEM),
                   err(SG_ENOMEM), ok("1"), ok("0"), err(SG_ECORRUPT)]


@pytest.mark.parametrize("session", ALL, indirect=True)
def test_value_type_name(session):
    out = session.run(["type point", "type one", "type myint", "type dict", "type none"])
    assert out == [ok("Point"), ok("int"), ok("MyInt"), ok("dict"), ok("NoneType")]


@pytest.mark.parametrize("session", ALL, indirect=True)
def test_value_getattr(session):
    py2 = session.args[2] == "2"
    u = "u" if py2 else ""
    out = session.run(["getattr point x", "getattr point y", "getattr point label",
                       "getattr point nope", "getattr reordered x", "getattr reordered y",
                       "getattr shown x", "getattr many a0", "getattr many a39",
                       "getattr deleted x", "getattr deleted y", "getattr slotted a",
                       "getattr myint tag", "getattr one x"])
    assert out == [ok("1"), ok("2"), ok(u + "'p'"), err(SG_ENOTPY), ok("'ex'"), ok("'why'"),
                   ok("'ex'"), ok("0"), ok("39"), err(SG_ENOTPY), ok("8"), err(SG_ENOTPY),
                   ok("'neg'"), err(SG_ENOTPY)]


@pytest.mark.parametrize("session", ALL, indirect=True)
def test_value_dict_lookup_and_iteration(session):
    out = session.run(["dictget dict b", "dictget dict10 k7", "dictget dict zz",
                       "dictget list3 a", "foreach shown_dict 10", "foreach dict10 3",
                       "dictget modules sys"])
    assert out[:4] == [ok("[1, 2]"), ok("7"), err(SG_ENOTPY), err(SG_ECORRUPT)]
    assert out[4] == ok("'y': 'why' | 'x': 'ex'")
    first3 = session.expected("dict10")[1:].split(", ")[:3]
    assert out[5] == ok(" | ".join(first3))
    assert out[6].startswith("ok <module at 0x")


@pytest.mark.parametrize("session", ALL, indirect=True)
def test_value_thread_names(session):
    out = session.one("threads modules")
    assert out.startswith("ok ")
    got = dict(item.split("=", 1) for item in out[3:].split(" | "))
    assert got == session.info["threads"]
    assert sorted(got.values()) == sorted([u"MainThread", u"worker-1", u"w\xf6rker-2"])

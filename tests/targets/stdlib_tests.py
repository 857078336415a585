"""A short unittest module, for `python -m cProfile -o out.prof -m unittest
stdlib_tests` (Python 2.7 and 3.6, whose cProfile has no -m, run
`unittest.main(module="stdlib_tests")` as a script instead). It exercises
json, re and difflib so the dump holds unittest's machinery, the runpy
frames of -m, and standard-library work. Well under a second everywhere.
"""
import difflib
import json
import re
import unittest


class JsonTests(unittest.TestCase):
    def test_round_trip(self):
        data = {"k%d" % i: [i, float(i) / 3, "v%d" % i, None, True] for i in range(500)}
        self.assertEqual(json.loads(json.dumps(data, sort_keys=True, indent=1)), data)

    def test_escapes(self):
        for i in range(200):
            text = u"\u00e9\"\\\n%d" % i
            self.assertEqual(json.loads(json.dumps(text)), text)


class RegexTests(unittest.TestCase):
    def test_findall(self):
        text = " ".join("word%d=%d" % (i, i * i) for i in range(2000))
        pairs = re.findall(r"(\w+)=(\d+)", text)
        self.assertEqual(len(pairs), 2000)

    def test_sub(self):
        for i in range(300):
            self.assertTrue(re.sub(r"a+", "b", "caaat%d" % i).startswith("cbt"))


class DiffTests(unittest.TestCase):
    def test_ratio(self):
        a = ["line %d" % i for i in range(400)]
        b = ["line %d" % (i + (i % 7 == 0)) for i in range(400)]
        self.assertGreater(difflib.SequenceMatcher(None, a, b).ratio(), 0.5)


if __name__ == "__main__":
    unittest.main(module="stdlib_tests")

"""A script that imports, for `python -m cProfile -o out.prof imports_script.py`.

Most of its time is spent importing standard modules (each import runs the
module's code through builtins.exec, called by importlib, inside the exec
that runs this script), then a little in functions of those modules. It is
the shape that made `report` draw one bare `disable` frame from a Python 3
dump (issue 14). Runs in well under a second on 2.7 and every Python 3.
"""
import argparse
import decimal
import difflib
import email.message
import json
import textwrap
import xml.dom.minidom


def work():
    doc = xml.dom.minidom.parseString("<a>" + "<b x='1'>t</b>" * 200 + "</a>")
    text = json.dumps({"k%d" % i: [i, str(i)] for i in range(300)})
    diff = list(difflib.unified_diff(text[:2000].split(","), text[100:2100].split(",")))
    msg = email.message.Message()
    msg["Subject"] = textwrap.fill("spyglass " * 40, 30)
    parser = argparse.ArgumentParser(description="imports")
    parser.add_argument("--n", type=int, default=3)
    total = decimal.Decimal(0)
    for i in range(parser.parse_args([]).n * 300):
        total += decimal.Decimal(i) / 7
    return len(doc.getElementsByTagName("b")) + len(diff) + len(msg["Subject"]) + int(total)


if __name__ == "__main__":
    work()

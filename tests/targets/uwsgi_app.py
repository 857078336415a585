"""A WSGI app for uWSGI tests: its workers' threads must be told apart.

uWSGI loads this module in the master and forks the workers from it, by
default without PyOS_AfterFork_Child: each worker's main thread state keeps
the master's native thread id (3.11+). GET /sleep?s=N sleeps N seconds in
time.sleep (idle: on no CPU); GET /spin?s=N spins N seconds (active). Before
either starts, the worker appends "SLEEP <pid>" or "SPIN <pid>" to the file
named by $SPYGLASS_UWSGI_MARKS, so a test knows which worker is where.

    uwsgi --plugin http,python3 --http 127.0.0.1:PORT --processes 2 --master \
          --wsgi-file uwsgi_app.py
"""
import os
import time

try:
    from urllib.parse import parse_qs
except ImportError:  # Python 2
    from urlparse import parse_qs

MARKS = os.environ.get("SPYGLASS_UWSGI_MARKS")


def mark(what):
    if MARKS:
        with open(MARKS, "a") as f:
            f.write("%s %d\n" % (what, os.getpid()))


def sleep_for(seconds):
    mark("SLEEP")
    time.sleep(seconds)  # LINE:sleep


def spin_for(seconds):
    mark("SPIN")
    end = time.time() + seconds
    while time.time() < end:  # LINE:spin
        pass


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    seconds = float(query.get("s", ["1"])[0])
    path = environ.get("PATH_INFO", "/")
    if path == "/sleep":
        sleep_for(seconds)
    elif path == "/spin":
        spin_for(seconds)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done\n"]

"""A plain WSGI app with two endpoints of known behaviour, for real servers
(uWSGI, gunicorn): /spin burns CPU in spin(), /sleep waits in nap().

    uwsgi --plugin http,python3 --wsgi-file wsgi_mix.py --threads 2 ...
"""
import time


def spin(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:  # LINE:spin
        n += 1
    return n


def nap(seconds):
    time.sleep(seconds)  # LINE:nap


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path.startswith("/spin"):
        spin(0.02)
    elif path.startswith("/sleep"):
        nap(0.02)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [path.encode()]

"""A Tornado server with known endpoints: GET /users/<id> burns CPU in spin()
inside its handler's get(). Prints "READY <port>" once it listens.
Tornado 5 (Python 2.7) and 6.

    python tornado_app.py [PORT]
"""
import socket
import sys
import time

import tornado.httpserver
import tornado.ioloop
import tornado.web


def spin(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:  # LINE:spin
        n += 1
    return n


class UserHandler(tornado.web.RequestHandler):
    def get(self, user_id):
        spin(0.02)  # LINE:user
        self.write("user %s\n" % user_id)


def main():
    app = tornado.web.Application([(r"/users/(\d+)", UserHandler)])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0))
    sock.listen(128)
    sock.setblocking(False)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    sys.stdout.write("READY %d\n" % sock.getsockname()[1])
    sys.stdout.flush()
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()

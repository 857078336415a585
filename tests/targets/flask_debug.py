"""A Flask app run as the seeds write it: app.run(debug=True), so that
Werkzeug's reloader serves from a re-executed child (WERKZEUG_RUN_MAIN=true)
while the parent only watches files. GET /users/<int:user_id> burns CPU in
spin() inside its view.

    python flask_debug.py PORT
"""
import sys
import time

from flask import Flask

app = Flask(__name__)


def spin(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:  # LINE:spin
        n += 1
    return n


@app.route("/users/<int:user_id>")
def user(user_id):
    spin(0.02)  # LINE:user
    return "user %d\n" % user_id


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=True)

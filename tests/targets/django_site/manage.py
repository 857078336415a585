#!/usr/bin/env python
"""A one-file Django site, run as the seeds show: `python manage.py runserver`
(with Django's autoreloader: the parent watches files, a re-executed child
with RUN_MAIN=true serves). GET /users/<int:user_id>/ burns CPU in spin()
inside its view. Also an ASGI and a WSGI application for other servers:
`manage:application` (gunicorn), `manage:asgi_application` (uvicorn).
"""
import os
import sys
import time

import django
from django.conf import settings
from django.http import HttpResponse

try:
    from django.urls import path
except ImportError:  # Django 1.11: regexes only
    path = None
    from django.conf.urls import url

settings.configure(
    DEBUG=False,
    SECRET_KEY="spyglass-test-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    LOGGING_CONFIG=None,
)


def spin(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:  # LINE:spin
        n += 1
    return n


def user(request, user_id):
    spin(0.02)  # LINE:user
    return HttpResponse("user %s\n" % user_id)


if path:
    urlpatterns = [path("users/<int:user_id>/", user)]
else:
    urlpatterns = [url(r"^users/(?P<user_id>\d+)/$", user)]

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

try:  # Django 3.0 and later
    from django.core.asgi import get_asgi_application
except ImportError:
    asgi_application = None
else:
    asgi_application = get_asgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)

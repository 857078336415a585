"""A method inside a nested class: its qualified name is Outer.Inner.method."""
import sys
import time


class Outer(object):
    class Inner(object):
        def method(self):
            sys.stdout.write("READY\n")
            sys.stdout.flush()
            time.sleep(100000)  # LINE:method


Outer.Inner().method()

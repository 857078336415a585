"""A target for `spyglass agent`: the main thread waits in agent_wait() (idle)
and a thread named "worker" spins in agent_spin() (on CPU). READY is printed
once both run. The arguments are a marker for the agent's --match, so an agent
under test follows only the processes its test started; "--exit-after S" makes
the process end by itself after S seconds, its worker sleeping instead of
spinning (the flood test's many short lives must not load the machine).
Runs on Python 2.7 and 3.x."""
import sys
import threading
import time


def agent_spin():
    x = 0
    while True:
        x += 1  # LINE:spin


def agent_nap():
    while True:
        time.sleep(0.5)


def agent_wait(seconds):
    end = time.time() + seconds if seconds else None
    while end is None or time.time() < end:
        time.sleep(0.2)  # LINE:wait


def main():
    exit_after = 0.0
    if "--exit-after" in sys.argv:
        exit_after = float(sys.argv[sys.argv.index("--exit-after") + 1])
    worker = threading.Thread(target=agent_nap if exit_after else agent_spin, name="worker")
    worker.daemon = True
    worker.start()
    while "worker" not in [t.name for t in threading.enumerate()]:
        time.sleep(0.01)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    agent_wait(exit_after)


main()

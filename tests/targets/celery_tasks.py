"""Celery with a filesystem broker (no server to run): short tasks that burn
CPU in spin(), for prefork workers replaced after every task
(--max-tasks-per-child=1), whose lives are about as short as the task.

    CELERY_DIR=/tmp/x celery -A celery_tasks worker --pool=prefork \\
        --concurrency=2 --max-tasks-per-child=1 --without-heartbeat \\
        --without-gossip --without-mingle
    CELERY_DIR=/tmp/x python celery_tasks.py send N     (queue N tasks)

Each task appends one line to $CELERY_DIR/done: the CPU seconds and the wall
seconds it spent in spin() (on a busy machine a running thread also waits for
a CPU: a sampler counts that time as running).
"""
import os
import sys
import time

from celery import Celery

DIR = os.environ["CELERY_DIR"]
SENDING = sys.argv[1:2] == ["send"]
for sub in ("queue", "staging", "processed"):
    if not os.path.isdir(os.path.join(DIR, sub)):
        os.makedirs(os.path.join(DIR, sub))

app = Celery("celery_tasks", broker="filesystem://")
app.conf.update(
    broker_transport_options={
        "data_folder_in": os.path.join(DIR, "queue"),
        # The broker writes a message file in place: the sender writes into
        # staging/ and renames each file into queue/ whole.
        "data_folder_out": os.path.join(DIR, "staging" if SENDING else "queue"),
        "data_folder_processed": os.path.join(DIR, "processed"),
        "polling_interval": 0.01,
    },
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)


def spin(seconds):
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:  # LINE:spin
        n += 1
    return n


@app.task
def work():
    start, wall = time.process_time(), time.time()
    spin(float(os.environ.get("CELERY_SPIN", "0.1")))
    with open(os.path.join(DIR, "done"), "a") as f:
        f.write("%.4f %.4f\n" % (time.process_time() - start, time.time() - wall))


if __name__ == "__main__" and SENDING:
    for _ in range(int(sys.argv[2])):
        work.delay()
    staging = os.path.join(DIR, "staging")
    for name in sorted(os.listdir(staging)):
        os.rename(os.path.join(staging, name), os.path.join(DIR, "queue", name))

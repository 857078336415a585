/*
 * endpoint.h - which HTTP request a thread is serving, read from its frames.
 *
 * With no code change in the target: a WSGI server calls the application
 * with an `environ` dict (REQUEST_METHOD, PATH_INFO), an ASGI server with a
 * `scope` dict (type "http" or "websocket", method, path). Both are local
 * variables of frames on the serving thread's stack, so the innermost frame
 * holding such a dict names the request. Route templates are used where the
 * framework left the matched rule next to the request:
 *   Flask:     environ["werkzeug.request"].url_rule.rule   ("/users/<int:id>")
 *   FastAPI:   scope["route"].path                         ("/users/{user_id}")
 * otherwise the raw path, with all-digit segments collapsed to {n}. A route
 * once matched by a program (a command line: the workers of one server) for
 * a method and path shape (the collapsed path) is remembered, so samples
 * taken before the framework routes (or after it let go of its request
 * object) get the same label. (Two routes with the same shape, such as
 * "/2024/x" and "/<int:year>/x", would share a label.)
 *
 * Cost: which code objects have an `environ` or `scope` local is decided
 * once per code object. Per thread, the last answer is kept with the frame,
 * the dict's address and its version tag (3.6 - 3.13: CPython gives a dict a
 * new tag on every change); while they match, a sample costs two small
 * reads. 3.14 has no such tag, and nothing else tells a changed dict from a
 * new one at the same address: the dict is read again every sample.
 */
#ifndef SPYGLASS_PYTHON_ENDPOINT_H
#define SPYGLASS_PYTHON_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "python/walk.h"

/* Longest label written ("GET /users/{n}"), and longest path kept in it. */
#define ENDPOINT_LABEL_MAX WALK_ENDPOINT_MAX
#define ENDPOINT_PATH_MAX 120
/* Most request-dict candidates looked at per stack (innermost first). */
#define ENDPOINT_MAX_CANDIDATES 8

struct endpoint_reader {
    struct ep_code *codes; /* direct-mapped by code serial */
    size_t codes_cap;
    struct ep_thread *threads; /* direct-mapped by (pid, thread) */
    size_t threads_cap;
    struct ep_route *routes; /* (program, method, path shape) -> routed label */
    size_t routes_cap;
    struct ep_program *programs; /* pid -> command line hash */
    uint64_t lookups;            /* threads asked about */
    uint64_t hits;               /* answered from the per-thread cache */
    uint64_t in_request;         /* ... of which were serving a request */
    uint64_t reads;              /* full reads of a request dict */
    uint64_t keys_read;          /* dict keys read (in one batch per dict) */
    uint64_t target_reads;       /* reads of target memory, all told */
};

void endpoint_init(struct endpoint_reader *er);
void endpoint_release(struct endpoint_reader *er);

/* Finds the request that thread t (of the process w reads) is serving. Call
 * it while the target is paused (walk_sample does, when walker.endpoints is
 * set): it reads dicts that a running target may be changing.
 * Writes "METHOD /route-or-path" (UTF-8, at most size-1 bytes) into label
 * and returns 1; returns 0 with label "" when no frame of t holds a request.
 * Torn or unexpected objects count as no request; never fails otherwise. */
int endpoint_of_thread(struct endpoint_reader *er, struct walker *w, const struct py_thread *t,
                       char *label, size_t size);

/* The same for the frames of an asyncio task waiting (innermost first: its
 * own coroutines, then those of the tasks awaiting it), remembered under
 * key (the task's address) as a thread is under its thread state. Sets
 * *request to the request's dict (0 if none), so that a request served by
 * several tasks at once can be counted once. Not counted in the lookups /
 * hits statistics, which are per thread. */
int endpoint_of_frames(struct endpoint_reader *er, struct walker *w, uint64_t key,
                       struct py_frame *frames, size_t depth, char *label, size_t size,
                       uint64_t *request);

/* The dict of the request last found for key (a thread state, or a task
 * given to endpoint_of_frames) of process pid; 0 if none. Reads nothing. */
uint64_t endpoint_request(struct endpoint_reader *er, pid_t pid, uint64_t key);

/* Copies path into out (size bytes with the NUL), replacing every segment
 * made only of digits by "{n}" and control characters by '?', cut to
 * ENDPOINT_PATH_MAX bytes with "..." when longer. */
void endpoint_collapse_path(const char *path, char *out, size_t size);

#endif

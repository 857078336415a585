/*
 * json_check.h - for the JSON writers' tests: parse a document with
 * Python's json module (strict: UTF-8 only, no NaN/Infinity, no duplicate
 * keys) and run assertions on it, written in Python against `d`.
 *
 * Test-only helpers, included by one test file each, hence static.
 */
#ifndef SPYGLASS_TEST_JSON_CHECK_H
#define SPYGLASS_TEST_JSON_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define JSON_CHECK_PYTHON "/usr/bin/python3"

static const char json_check_prelude[] =
    "import json, sys\n"
    "def _no_constant(c):\n"
    "    raise ValueError('non-standard JSON constant ' + c)\n"
    "def _pairs(pairs):\n"
    "    keys = [k for k, _ in pairs]\n"
    "    if len(keys) != len(set(keys)):\n"
    "        raise ValueError('duplicate key in ' + repr(keys))\n"
    "    return dict(pairs)\n"
    "with open(sys.argv[1], encoding='utf-8', errors='strict') as f:\n"
    "    d = json.load(f, parse_constant=_no_constant, object_pairs_hook=_pairs)\n";

/* Returns 1 if the Python interpreter the checks need is present. */
static int json_check_available(void)
{
    return access(JSON_CHECK_PYTHON, X_OK) == 0;
}

/* Parses json (len bytes) and runs script (Python, `d` is the document);
 * returns the interpreter's exit status: 0 when it parsed and every assert
 * held. Failures print Python's traceback on stderr. */
static int json_check(const char *json, size_t len, const char *script)
{
    char path[] = "/tmp/spyglass-json-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f || fwrite(json, 1, len, f) != len || fclose(f) != 0) {
        unlink(path);
        return -1;
    }
    size_t size = sizeof(json_check_prelude) + strlen(script) + 1;
    char *program = malloc(size);
    if (!program) {
        unlink(path);
        return -1;
    }
    snprintf(program, size, "%s%s\n", json_check_prelude, script);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl(JSON_CHECK_PYTHON, "python3", "-c", program, path, (char *)NULL);
        _exit(127);
    }
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    free(program);
    unlink(path);
    return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif

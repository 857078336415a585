/*
 * value_driver.c - exercises python/value.c against a live interpreter.
 *
 * Usage: value_driver PID MAJOR MINOR, then one command per line on stdin:
 *   repr ADDR [SIZE]       the repr of the object at ADDR (buffer of SIZE bytes)
 *   type ADDR              its type name
 *   int ADDR               value_read_int
 *   getattr ADDR NAME      the repr of attribute NAME
 *   dictget ADDR KEY       the repr of dict[KEY]
 *   foreach ADDR MAX       "key-repr: value-repr" of at most MAX items, " | "-joined
 *   threads ADDR           "ident=name" of each thread, " | "-joined (ADDR: sys.modules)
 * Each command prints exactly one line: "ok RESULT" or "err CODE". Addresses
 * are decimal, as Python's id() prints them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"
#include "python/layout.h"
#include "python/value.h"
#include "util/util.h"

struct ctx {
    struct mem_reader *r;
    const struct py_layout *l;
    struct strbuf sb;
};

static int print_item(uint64_t key, uint64_t value, void *arg)
{
    struct ctx *c = arg;
    char k[256], v[256];
    value_repr(c->r, c->l, key, k, sizeof(k));
    value_repr(c->r, c->l, value, v, sizeof(v));
    strbuf_addf(&c->sb, "%s%s: %s", c->sb.len ? " | " : "", k, v);
    return 0;
}

static void print_thread(uint64_t ident, const char *name, void *arg)
{
    struct ctx *c = arg;
    strbuf_addf(&c->sb, "%s%" PRIu64 "=%s", c->sb.len ? " | " : "", ident, name);
}

/* Runs one command; returns 0 and fills out, or a negative SG_E* code. */
static int run(struct ctx *c, const char *cmd, uint64_t addr, const char *arg, char *out,
               size_t size)
{
    uint64_t value;
    int err;
    if (strcmp(cmd, "repr") == 0) {
        size_t n = arg[0] ? strtoul(arg, NULL, 10) : size;
        return value_repr(c->r, c->l, addr, out, n && n <= size ? n : size);
    }
    if (strcmp(cmd, "type") == 0)
        return value_type_name(c->r, c->l, addr, out, size);
    if (strcmp(cmd, "int") == 0) {
        int64_t v;
        err = value_read_int(c->r, c->l, addr, &v);
        if (!err)
            snprintf(out, size, "%" PRId64, v);
        return err;
    }
    if (strcmp(cmd, "getattr") == 0 || strcmp(cmd, "dictget") == 0) {
        err = cmd[0] == 'g' ? value_getattr(c->r, c->l, addr, arg, &value)
                            : value_dict_get_str(c->r, c->l, addr, arg, &value);
        return err ? err : value_repr(c->r, c->l, value, out, size);
    }
    strbuf_init(&c->sb);
    strbuf_addstr(&c->sb, "");
    if (strcmp(cmd, "foreach") == 0)
        err = value_dict_foreach(c->r, c->l, addr, strtoul(arg, NULL, 10), print_item, c);
    else if (strcmp(cmd, "threads") == 0)
        err = value_thread_names(c->r, c->l, addr, print_thread, c);
    else
        err = -SG_EIO;
    if (!err)
        snprintf(out, size, "%s", c->sb.buf);
    strbuf_release(&c->sb);
    return err;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: value_driver PID MAJOR MINOR[t] < commands\n");
        return 2;
    }
    /* "14t": the free-threaded build's table */
    const struct py_layout *l =
        layout_find_build(atoi(argv[2]), atoi(argv[3]), strchr(argv[3], 't') != NULL);
    if (!l) {
        fprintf(stderr, "no layout for %s.%s\n", argv[2], argv[3]);
        return 2;
    }
    struct mem_proc mp;
    struct mem_reader r;
    mem_proc_init(&mp, &r, (pid_t)atoi(argv[1]));
    struct ctx c = {.r = &r, .l = l};
    char line[1024], cmd[32], arg[512];
    static char out[65536];
    while (fgets(line, sizeof(line), stdin)) {
        unsigned long long addr = 0;
        arg[0] = '\0';
        if (sscanf(line, "%31s %llu %511s", cmd, &addr, arg) < 2)
            continue;
        out[0] = '\0';
        int err = run(&c, cmd, addr, arg, out, sizeof(out));
        if (err)
            printf("err %d\n", err);
        else
            printf("ok %s\n", out);
        fflush(stdout);
    }
    mem_proc_release(&mp);
    return 0;
}

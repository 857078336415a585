/*
 * test_spool.c - the agent's bounded spool (agent/spool.c): files come out
 * oldest first, whole, and past the bound the oldest are dropped and counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/spool.h"
#include "util/util.h"

/* A fresh folder under a new temporary one (spool_open creates the
 * nested folders). */
static char *make_dir(void)
{
    char tmpl[] = "/tmp/spyglass-spool-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return xasprintf("%s/nested/spool", dir);
}

/* Removes what make_dir made. */
static void remove_dir(char *dir)
{
    char *top = xstrndup(dir, strlen(dir) - strlen("/nested/spool"));
    char *cmd = xasprintf("rm -rf '%s'", top);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(top);
    free(dir);
}

static void add(struct spool *s, uint64_t t, const char *text)
{
    char why[256];
    assert_int_equal(spool_add(s, t, "app-1", text, strlen(text), why, sizeof(why)), 0);
}

static char *take(struct spool *s)
{
    void *data = NULL;
    size_t len = 0;
    char *path = spool_oldest(s, &data, &len);
    if (!path)
        return NULL;
    spool_remove(s, path);
    free(path);
    char *text = xstrndup(data, len);
    free(data);
    return text;
}

static void test_spool_gives_files_back_oldest_first(void **state)
{
    struct spool s;
    char why[256], *dir = make_dir();
    assert_int_equal(spool_open(&s, dir, ".push", 100, 0, why, sizeof(why)), 0);
    add(&s, 300, "third");
    add(&s, 100, "first");
    add(&s, 200, "second");
    assert_int_equal(spool_count(&s, NULL), 3);
    char *a = take(&s), *b = take(&s), *c = take(&s);
    assert_string_equal(a, "first");
    assert_string_equal(b, "second");
    assert_string_equal(c, "third");
    assert_null(take(&s));
    assert_int_equal(s.removed, 3);
    assert_int_equal(s.dropped, 0);
    free(a);
    free(b);
    free(c);
    spool_close(&s);
    remove_dir(dir);
}

static void test_spool_drops_the_oldest_past_its_bound_and_counts(void **state)
{
    struct spool s;
    char why[256], *dir = make_dir();
    assert_int_equal(spool_open(&s, dir, ".push", 3, 0, why, sizeof(why)), 0);
    for (int i = 1; i <= 5; i++) {
        char text[16];
        snprintf(text, sizeof(text), "w%d", i);
        add(&s, (uint64_t)i, text);
    }
    assert_int_equal(s.added, 5);
    assert_int_equal(s.dropped, 2);
    char *oldest = take(&s);
    assert_string_equal(oldest, "w3");
    free(oldest);
    spool_close(&s);
    /* a byte bound: 10-byte files, 25 bytes kept: two remain */
    assert_int_equal(spool_open(&s, dir, ".otlp", 100, 25, why, sizeof(why)), 0);
    for (int i = 0; i < 4; i++)
        add(&s, 1000 + (uint64_t)i, "0123456789");
    uint64_t bytes;
    assert_int_equal(spool_count(&s, &bytes), 2);
    assert_int_equal(bytes, 20);
    assert_int_equal(s.dropped, 2);
    spool_close(&s);
    remove_dir(dir);
}

static void test_spool_keeps_files_across_a_restart(void **state)
{
    struct spool s;
    char why[256], *dir = make_dir();
    assert_int_equal(spool_open(&s, dir, ".push", 10, 0, why, sizeof(why)), 0);
    add(&s, 5, "left behind");
    spool_close(&s);
    assert_int_equal(spool_open(&s, dir, ".push", 10, 0, why, sizeof(why)), 0);
    char *text = take(&s);
    assert_string_equal(text, "left behind");
    free(text);
    spool_close(&s);
    remove_dir(dir);
}

static void test_spool_refuses_a_file_as_its_folder(void **state)
{
    struct spool s;
    char why[256];
    assert_int_equal(spool_open(&s, "/dev/null/spool", ".push", 10, 0, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "/dev/null/spool"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_gives_files_back_oldest_first),
        cmocka_unit_test(test_spool_drops_the_oldest_past_its_bound_and_counts),
        cmocka_unit_test(test_spool_keeps_files_across_a_restart),
        cmocka_unit_test(test_spool_refuses_a_file_as_its_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * pyroscope.c - the body of a push to Pyroscope (agent/encode.h).
 *
 * push.v1.PushRequest, from Pyroscope's api/push/v1/push.proto:
 *   PushRequest      { repeated RawProfileSeries series = 1; }
 *   RawProfileSeries { repeated LabelPair labels = 1; repeated RawSample samples = 2; }
 *   LabelPair        { string name = 1; string value = 2; }
 *   RawSample        { bytes raw_profile = 1; }
 * Label names keep to [a-zA-Z_][a-zA-Z0-9_]* (the server lists only those)
 * and none starts with "__" but __name__, which the server requires.
 */
#include <stdio.h>

#include "agent/encode.h"
#include "util/pb.h"

static void put_label(struct strbuf *series, struct strbuf *pair, const char *name,
                      const char *value)
{
    if (!value[0])
        return; /* the server drops empty values anyway */
    pb_string(pair, 1, name);
    pb_string(pair, 2, value);
    pb_message(series, 1, pair);
}

void encode_pyroscope(const struct agent_labels *l, const void *pprof_gz, size_t len,
                      struct strbuf *out)
{
    struct strbuf series, scratch;
    strbuf_init(&series);
    strbuf_init(&scratch);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)l->pid);
    put_label(&series, &scratch, "__name__", l->name);
    put_label(&series, &scratch, "service_name", l->service);
    put_label(&series, &scratch, "host", l->host);
    put_label(&series, &scratch, "pid", pid);
    put_label(&series, &scratch, "python_version", l->python);
    pb_bytes(&scratch, 1, pprof_gz, len);
    pb_message(&series, 2, &scratch);
    pb_message(out, 1, &series);
    strbuf_release(&series);
    strbuf_release(&scratch);
}

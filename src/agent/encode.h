/*
 * encode.h - a window's profile as the bodies the agent sends.
 *
 * A window is one struct profile per process; its stacks start with the
 * sample's labels as PF_LABEL frames (thread, idle, gil, endpoint), which
 * both encodings turn into per-sample labels. What describes the whole
 * profile (service, host, pid, Python version) is struct agent_labels:
 *
 * - Pyroscope's Connect push (push.v1.PusherService/Push, Content-Type
 *   application/proto): PushRequest { series { labels, samples {
 *   raw_profile = the gzipped pprof } } }, the series labels being
 *   __name__ (process_cpu, or wall with idle threads), service_name, host,
 *   pid and python_version; the per-sample pprof labels become series
 *   labels on the server.
 * - OTLP/HTTP profiles (POST /v1development/profiles, Content-Type
 *   application/x-protobuf): ExportProfilesServiceRequest with one
 *   ResourceProfiles (service.name, host.name, process.pid,
 *   process.runtime.name/version), one ScopeProfiles ("spyglass") and one
 *   Profile of samples/count, its tables in the request's dictionary, the
 *   sample labels as attributes (thread.name, spyglass.idle, spyglass.gil,
 *   spyglass.endpoint). The messages are opentelemetry-proto's
 *   profiles/v1development as the collector v0.161.0 (pdata v1.67.0) reads
 *   them; the schema is in development and changes between releases.
 */
#ifndef SPYGLASS_AGENT_ENCODE_H
#define SPYGLASS_AGENT_ENCODE_H

#include <stddef.h>
#include <sys/types.h>

#include "profile/profile.h"
#include "util/util.h"

struct agent_labels {
    const char *name; /* Pyroscope's __name__: "process_cpu" or "wall" */
    char service[128];
    char host[128];
    char python[32];
    pid_t pid;
};

/* Label keys of the PF_LABEL frames (pprof and Pyroscope's names). */
#define LABEL_THREAD "thread"
#define LABEL_IDLE "idle"
#define LABEL_GIL "gil"
#define LABEL_ENDPOINT "endpoint"

/* Appends the window's PushRequest to out. */
void encode_pyroscope(const struct agent_labels *l, const void *pprof_gz, size_t len,
                      struct strbuf *out);

/* Appends the window's ExportProfilesServiceRequest to out. */
void encode_otlp(const struct profile *p, const struct agent_labels *l, struct strbuf *out);

#endif

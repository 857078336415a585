/*
 * pb.h - the few protobuf encoding steps our writers need: varints, field
 * keys, varint / fixed64 / length-delimited fields, and nested messages
 * built in a scratch buffer first (their length precedes them).
 *
 * Shared by format/pprof.c (profile.proto) and the agent's push bodies
 * (Pyroscope's PushRequest, OTLP's ExportProfilesServiceRequest).
 */
#ifndef SPYGLASS_UTIL_PB_H
#define SPYGLASS_UTIL_PB_H

#include <stddef.h>
#include <stdint.h>

#include "util/hash.h"
#include "util/util.h"

enum { PB_WIRE_VARINT = 0, PB_WIRE_I64 = 1, PB_WIRE_LEN = 2 };

void pb_varint(struct strbuf *sb, uint64_t v);
void pb_key(struct strbuf *sb, unsigned field, unsigned wire);
/* A varint field; zero is the default, so it is left out. */
void pb_uint(struct strbuf *sb, unsigned field, uint64_t v);
/* A fixed64 field (little-endian), left out when zero. */
void pb_fixed64(struct strbuf *sb, unsigned field, uint64_t v);
/* A length-delimited field (bytes, string, packed values, a message). */
void pb_bytes(struct strbuf *sb, unsigned field, const void *data, size_t len);
/* A string field (left in even when empty: repeated strings keep places). */
void pb_string(struct strbuf *sb, unsigned field, const char *s);
/* Appends the message in msg as field, and empties msg for reuse. */
void pb_message(struct strbuf *sb, unsigned field, struct strbuf *msg);

/* A string table (profile.proto's, OTLP's dictionary's): each string once,
 * in order of first use. Strings are borrowed: they must outlive it. */
struct pb_strings {
    const char **list; /* index -> string */
    size_t count, cap;
    struct hash_index index;
};

/* Returns the string's index in the table, adding it if new. */
uint64_t pb_string_index(struct pb_strings *t, const char *s);
void pb_strings_release(struct pb_strings *t);

#endif

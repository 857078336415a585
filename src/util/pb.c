/*
 * pb.c - protobuf encoding steps (util/pb.h).
 */
#include "util/pb.h"

#include <stdlib.h>
#include <string.h>

void pb_varint(struct strbuf *sb, uint64_t v)
{
    unsigned char buf[10];
    size_t n = 0;
    do {
        buf[n] = (unsigned char)(v & 0x7F);
        v >>= 7;
        if (v)
            buf[n] |= 0x80;
        n++;
    } while (v);
    strbuf_add(sb, buf, n);
}

void pb_key(struct strbuf *sb, unsigned field, unsigned wire)
{
    pb_varint(sb, (uint64_t)field << 3 | wire);
}

void pb_uint(struct strbuf *sb, unsigned field, uint64_t v)
{
    if (!v)
        return;
    pb_key(sb, field, PB_WIRE_VARINT);
    pb_varint(sb, v);
}

void pb_fixed64(struct strbuf *sb, unsigned field, uint64_t v)
{
    unsigned char buf[8];
    if (!v)
        return;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(v >> (8 * i));
    pb_key(sb, field, PB_WIRE_I64);
    strbuf_add(sb, buf, sizeof(buf));
}

void pb_bytes(struct strbuf *sb, unsigned field, const void *data, size_t len)
{
    pb_key(sb, field, PB_WIRE_LEN);
    pb_varint(sb, len);
    if (len)
        strbuf_add(sb, data, len);
}

void pb_string(struct strbuf *sb, unsigned field, const char *s)
{
    pb_bytes(sb, field, s, strlen(s));
}

void pb_message(struct strbuf *sb, unsigned field, struct strbuf *msg)
{
    pb_bytes(sb, field, msg->buf, msg->len);
    msg->len = 0;
}

static uint64_t string_hash_of(const void *ctx, uint32_t id)
{
    const struct pb_strings *t = ctx;
    return hash_str(HASH_SEED, t->list[id]);
}

static int string_same(const void *ctx, uint32_t id, const void *key)
{
    const struct pb_strings *t = ctx;
    return strcmp(t->list[id], key) == 0;
}

uint64_t pb_string_index(struct pb_strings *t, const char *s)
{
    hash_index_reserve(&t->index, t->count, string_hash_of, t);
    uint32_t *slot = hash_index_find(&t->index, hash_str(HASH_SEED, s), string_same, t, s);
    if (*slot)
        return *slot - 1;
    t->list = xgrow(t->list, sizeof(*t->list), t->count + 1, &t->cap);
    t->list[t->count] = s;
    *slot = (uint32_t)++t->count;
    return t->count - 1;
}

void pb_strings_release(struct pb_strings *t)
{
    free(t->list);
    hash_index_release(&t->index);
    memset(t, 0, sizeof(*t));
}

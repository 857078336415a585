/*
 * marshal_out.c - writing the marshal type codes a pstats dump needs.
 *
 * Only codes that marshal version 2 already had, so that Python 2.7 reads
 * the result as well as every Python 3: '(' tuples, '{' ... '0' dicts, 'i'
 * and 'l' ints, 'g' binary floats and 'u' strings. All integers in the
 * format are little-endian.
 */
#include "util/marshal_out.h"

#include <string.h>

#include "util/utf8.h"

static void put_i32(struct strbuf *sb, int32_t v)
{
    uint32_t u = (uint32_t)v;
    unsigned char b[4] = {u & 0xFF, u >> 8 & 0xFF, u >> 16 & 0xFF, u >> 24};
    strbuf_add(sb, b, 4);
}

void marshal_out_int(struct strbuf *sb, int64_t v)
{
    if (v >= INT32_MIN && v <= INT32_MAX) {
        strbuf_addch(sb, 'i');
        put_i32(sb, (int32_t)v);
        return;
    }
    /* The magnitude in 15-bit digits, least significant first; the sign
     * goes on the digit count. 0 - (uint64_t)v is exact for INT64_MIN. */
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    unsigned char digits[5][2];
    int32_t n = 0;
    for (; mag; mag >>= 15, n++) {
        digits[n][0] = (unsigned char)(mag & 0xFF);
        digits[n][1] = (unsigned char)(mag >> 8 & 0x7F);
    }
    strbuf_addch(sb, 'l');
    put_i32(sb, v < 0 ? -n : n);
    strbuf_add(sb, digits, 2 * (size_t)n);
}

void marshal_out_float(struct strbuf *sb, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    strbuf_addch(sb, 'g');
    for (int i = 0; i < 8; i++)
        strbuf_addch(sb, (char)(bits >> 8 * i & 0xFF));
}

void marshal_out_str(struct strbuf *sb, const char *s)
{
    struct strbuf text;
    strbuf_init(&text);
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(u + i, n - i, &cp);
        if (len) {
            strbuf_add(&text, u + i, len);
            i += len;
        } else {
            strbuf_addstr(&text, UTF8_REPLACEMENT);
            i++;
        }
    }
    strbuf_addch(sb, 'u');
    put_i32(sb, (int32_t)text.len); /* names are far below 2 GiB */
    if (text.len)
        strbuf_add(sb, text.buf, text.len);
    strbuf_release(&text);
}

void marshal_out_tuple(struct strbuf *sb, uint32_t count)
{
    strbuf_addch(sb, '(');
    put_i32(sb, (int32_t)count);
}

void marshal_out_dict_begin(struct strbuf *sb)
{
    strbuf_addch(sb, '{');
}

void marshal_out_dict_end(struct strbuf *sb)
{
    strbuf_addch(sb, '0');
}

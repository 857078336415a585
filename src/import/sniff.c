/*
 * sniff.c - telling saved profiles apart by their first bytes (import/sniff.h).
 */
#include "import/sniff.h"

#include <string.h>

/* Is line[0, len) "... COUNT" (optionally with a trailing CR)? */
static int collapsed_line(const uint8_t *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    size_t digits = 0;
    while (digits < len && line[len - 1 - digits] >= '0' && line[len - 1 - digits] <= '9')
        digits++;
    return digits > 0 && len > digits + 1 && line[len - 1 - digits] == ' ';
}

/* Text: no NUL bytes and no control characters besides tab, CR and LF. */
static int looks_textual(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] < 0x20 && data[i] != '\t' && data[i] != '\r' && data[i] != '\n')
            return 0;
    }
    return 1;
}

static int is_collapsed(const uint8_t *data, size_t len)
{
    size_t sniff = len < 65536 ? len : 65536;
    if (!looks_textual(data, sniff))
        return 0;
    size_t pos = 0;
    while (pos < sniff) {
        const uint8_t *nl = memchr(data + pos, '\n', sniff - pos);
        size_t end = nl ? (size_t)(nl - data) : sniff;
        if (!nl && sniff < len)
            return 0; /* the first real line is longer than we look at */
        const uint8_t *line = data + pos;
        size_t line_len = end - pos;
        pos = end + 1;
        size_t blank = 0;
        while (blank < line_len &&
               (line[blank] == ' ' || line[blank] == '\t' || line[blank] == '\r'))
            blank++;
        if (blank == line_len || line[0] == '#')
            continue;
        return collapsed_line(line, line_len);
    }
    return 0;
}

enum sniff_kind sniff_format(const uint8_t *data, size_t len)
{
    if (len >= 2 && (data[0] & 0x7F) == '{') {
        uint8_t key = data[1] & 0x7F;
        if (len == 2 && data[1] == '0')
            return SNIFF_PSTATS; /* an empty dict */
        if (key == ')' && len >= 3 && data[2] == 3)
            return SNIFF_PSTATS;
        if (key == '(' && len >= 6 && !memcmp(data + 2, "\x03\0\0\0", 4))
            return SNIFF_PSTATS;
    }
    if (len >= 17 && !memcmp(data, "spyglass-profile ", 17))
        return SNIFF_SPYGLASS;
    return is_collapsed(data, len) ? SNIFF_COLLAPSED : SNIFF_UNKNOWN;
}

/*
 * utf8.h - the one UTF-8 decoder and encoder, with one policy.
 *
 * Well-formed UTF-8 is what RFC 3629 and Unicode's table 3-7 allow: no
 * overlong forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing past
 * U+10FFFF, no stray continuation bytes, no truncated sequences. Everything
 * spyglass writes (JSON, SVG, pstats' marshal, the terminal) is made of
 * well-formed sequences, with each byte that does not start one replaced by
 * U+FFFD (UTF8_REPLACEMENT) or, on a terminal, by '?'. Names read from a
 * target pass through here, so a hostile name cannot smuggle a malformed
 * sequence into any output.
 */
#ifndef SPYGLASS_UTIL_UTF8_H
#define SPYGLASS_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* U+FFFD, the replacement character, as UTF-8. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* Decodes the sequence at s, of which at most len bytes may be read: returns
 * its length (1-4) and sets *cp, or returns 0 if the bytes there are not one
 * well-formed sequence (cp is then left alone). Bytes are checked in order
 * and reading stops at the first bad one, so a NUL-terminated string may be
 * passed with len 4: a NUL fails every continuation check. */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* Writes cp as UTF-8 into out (room for 4 bytes); returns the length. A
 * surrogate or a value past U+10FFFF is written as U+FFFD. */
size_t utf8_encode(uint32_t cp, unsigned char out[4]);

/* Returns 1 if s[0..len) is well-formed UTF-8 with no NUL byte. */
int utf8_valid(const unsigned char *s, size_t len);

/* Room for one escaped character: four "\xNN" escapes and a NUL. */
#define UTF8_ESCAPE_MAX 17

/* The escaping for text a terminal shows (dump's text, error messages, the
 * endpoint table): the character at s is written into out, NUL-terminated,
 * as itself if it is a well-formed printable sequence, else escaped, so a
 * name never moves the cursor, recolours the terminal or breaks a layout of
 * one item per line: a newline becomes "\n", and each byte of a control
 * character (C0, DEL, C1) or of a byte that starts no well-formed sequence
 * becomes "\xNN". Returns the bytes of s used: 0 at its end. */
size_t utf8_escape_char(const char *s, char out[UTF8_ESCAPE_MAX]);

/* Writes s into out (size bytes, always NUL-terminated when size > 0) with
 * every character escaped by utf8_escape_char; a character whose text does
 * not fit is left out whole, with everything after it. Returns out's length. */
size_t utf8_escape(const char *s, char *out, size_t size);

#endif

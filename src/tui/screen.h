/*
 * screen.h - the ncurses side of `top`: open and restore the terminal, read
 * keys, and put the lines text.c builds on the screen. No counting and no
 * sorting happen here.
 */
#ifndef SPYGLASS_TUI_SCREEN_H
#define SPYGLASS_TUI_SCREEN_H

#include <stddef.h>

#include "tui/text.h"
#include "tui/view.h"

/* Returned by screen_key when the terminal was resized. */
#define SCREEN_KEY_RESIZE 0x1100

/* Takes over the terminal (alternate screen, no echo, keys unbuffered).
 * Returns 0, or -1 if the terminal cannot be driven (unknown TERM). */
int screen_open(void);
/* Gives the terminal back as it was. Safe to call twice. */
void screen_close(void);
/* Leaves the screen for a moment (before we stop on Ctrl-Z) and comes back. */
void screen_suspend(void);
void screen_resume(void);

/* The next key pressed (a character, a TOP_KEY_* code or SCREEN_KEY_RESIZE),
 * or -1 if none is waiting. Never blocks. */
int screen_key(void);

/* Table rows that fit on the screen. */
size_t screen_page(void);

/* Draws the header lines, the table (rows from v->scroll on, which is
 * clamped to what exists) or the help screen, and the footer. */
void screen_draw(struct strbuf header[TOP_HEADER_LINES], struct top_view *v,
                 const struct top_row *rows, size_t nrows, int ascii_only, int full_paths);

#endif

/*
 * screen.c - `top` on an ncurses screen.
 *
 * Layout, top to bottom: three header lines, the column heading (reverse
 * video, the sorted column's title underlined), the table, and a footer
 * saying which rows are shown and how to get help. The help screen, made
 * from the key table, replaces the table while it is up. Terminals too small
 * for any of that get one line saying so.
 */
#include "tui/screen.h"

#include <curses.h>
#include <stdio.h>
#include <unistd.h>

#define MIN_COLS 20
#define MIN_LINES 6
/* Header lines, heading and footer: the rows the table cannot use. */
#define CHROME (TOP_HEADER_LINES + 2)

static SCREEN *screen;

int screen_open(void)
{
    if (screen)
        return 0;
    screen = newterm(NULL, stdout, stdin);
    if (!screen)
        return -1;
    set_term(screen);
    cbreak(); /* keys one at a time; Ctrl-C and Ctrl-Z still send signals */
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
    return 0;
}

void screen_close(void)
{
    if (!screen)
        return;
    endwin();
    delscreen(screen);
    screen = NULL;
    fflush(stdout);
}

void screen_suspend(void)
{
    if (screen)
        endwin();
}

void screen_resume(void)
{
    if (screen) {
        refresh();
        clearok(curscr, TRUE);
    }
}

int screen_key(void)
{
    if (!screen)
        return -1;
    int c = getch();
    switch (c) {
    case ERR:
        return -1;
    case KEY_RESIZE:
        return SCREEN_KEY_RESIZE;
    case KEY_UP:
        return TOP_KEY_UP;
    case KEY_DOWN:
        return TOP_KEY_DOWN;
    case KEY_PPAGE:
        return TOP_KEY_PAGE_UP;
    case KEY_NPAGE:
        return TOP_KEY_PAGE_DOWN;
    case KEY_HOME:
        return TOP_KEY_HOME;
    }
    return c;
}

size_t screen_page(void)
{
    return LINES > CHROME ? (size_t)(LINES - CHROME) : 1;
}

/* Puts text (already safe) at line y, cut to the screen width. */
static void put_line(int y, const char *text, int ascii_only, attr_t attr)
{
    struct strbuf line;
    strbuf_init(&line);
    /* The last column of the last line is left alone: writing there
     * would scroll some terminals. */
    size_t width = (size_t)COLS - (y == LINES - 1);
    top_fit(&line, text, width, TOP_TRUNC_END, ascii_only, 0);
    attrset(attr);
    mvaddstr(y, 0, line.buf);
    attrset(A_NORMAL);
    strbuf_release(&line);
}

static void draw_heading(int y, const struct top_layout *l, const struct top_view *v)
{
    struct strbuf line;
    strbuf_init(&line);
    size_t start, end;
    top_format_heading(l, v, &line, &start, &end);
    attrset(A_REVERSE);
    mvhline(y, 0, ' ', COLS);
    mvaddnstr(y, 0, line.buf, COLS);
    if (end > start && end <= (size_t)COLS) /* the heading is ASCII: bytes are columns */
        mvchgat(y, (int)start, (int)(end - start), A_REVERSE | A_BOLD | A_UNDERLINE, 0, NULL);
    attrset(A_NORMAL);
    strbuf_release(&line);
}

static void draw_help(int y0)
{
    char lines[64][128];
    size_t n = top_help_lines(lines, 64);
    put_line(y0, "Keys (any key closes this help):", 1, A_BOLD);
    for (size_t i = 0; i < n && y0 + 1 + (int)i < LINES - 1; i++)
        put_line(y0 + 1 + (int)i, lines[i], 1, A_NORMAL);
}

static void draw_table(int y0, struct top_view *v, const struct top_row *rows, size_t nrows,
                       int ascii_only, int full_paths)
{
    size_t page = screen_page();
    if (v->scroll + page > nrows)
        v->scroll = nrows > page ? nrows - page : 0;
    size_t shown = nrows - v->scroll < page ? nrows - v->scroll : page;
    struct top_layout l;
    top_layout(&l, (size_t)COLS, v, rows + v->scroll, shown, ascii_only, full_paths);
    draw_heading(y0, &l, v);
    struct strbuf line;
    strbuf_init(&line);
    for (size_t i = 0; i < shown; i++) {
        line.len = 0;
        top_format_row(&l, &rows[v->scroll + i], &line);
        attrset(A_NORMAL);
        mvaddstr(y0 + 1 + (int)i, 0, line.buf);
    }
    strbuf_release(&line);
    char footer[128];
    if (nrows)
        snprintf(footer, sizeof(footer), "rows %zu-%zu of %zu   ? help  q quit", v->scroll + 1,
                 v->scroll + shown, nrows);
    else
        snprintf(footer, sizeof(footer), "no samples yet%s   ? help  q quit",
                 v->idle ? "" : " (idle threads hidden: i shows them)");
    put_line(LINES - 1, footer, ascii_only, A_DIM);
}

void screen_draw(struct strbuf header[TOP_HEADER_LINES], struct top_view *v,
                 const struct top_row *rows, size_t nrows, int ascii_only, int full_paths)
{
    if (!screen)
        return;
    erase();
    if (COLS < MIN_COLS || LINES < MIN_LINES) {
        char msg[96];
        snprintf(msg, sizeof(msg), "spyglass top: terminal too small (%dx%d, need %dx%d)", COLS,
                 LINES, MIN_COLS, MIN_LINES);
        put_line(0, msg, ascii_only, A_NORMAL);
        refresh();
        return;
    }
    for (int i = 0; i < TOP_HEADER_LINES; i++)
        put_line(i, header[i].buf, ascii_only, i == 0 ? A_BOLD : A_NORMAL);
    if (v->help)
        draw_help(TOP_HEADER_LINES);
    else
        draw_table(TOP_HEADER_LINES, v, rows, nrows, ascii_only, full_paths);
    refresh();
}

/*
 * proc.h - facts about a process, read from /proc/PID (its threads are in
 * task.h). Functions return 0 or a negative SG_E* code.
 */
#ifndef SPYGLASS_PROC_PROC_H
#define SPYGLASS_PROC_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads the process's process-wide state letter from /proc/PID/stat. */
int proc_state(pid_t pid, char *state);

/* Reads /proc/PID/comm (the short name) into buf. */
int proc_comm(pid_t pid, char *buf, size_t size);

/* Reads /proc/PID/cmdline, arguments joined by spaces, into buf (truncated). */
int proc_cmdline(pid_t pid, char *buf, size_t size);

/* Checks the process exists and we may read it. Returns 0, -SG_ENOPROC or -SG_EPERM. */
int proc_check(pid_t pid);

/* Returns the process's real uid, or -1. */
long proc_uid(pid_t pid);

/* What decides whether we may read a process, as far as /proc tells. */
struct proc_access {
    long uid, euid; /* its real and effective uid; -1 if unknown */
    int dumpable;   /* 0: not dumpable (PR_SET_DUMPABLE 0, or it changed user ids, as a
                       setuid program does): only root may read it; 1; -1 unknown */
    int yama_scope; /* kernel.yama.ptrace_scope, or -1 where the kernel has no Yama */
};

/* Fills a for process pid (fields it cannot learn stay -1). */
void proc_access(pid_t pid, struct proc_access *a);

/* Parses the "Uid:" line of a /proc status text: real and effective uid.
 * Returns 0 or -SG_ECORRUPT. */
int proc_parse_uids(const char *status, long *uid, long *euid);

/* Identifies the program file the process runs (device and inode of
 * /proc/PID/exe): it changes when the process calls exec. Returns 0 or a
 * negative SG_E* code. */
int proc_exe_id(pid_t pid, uint64_t *dev, uint64_t *ino);

/* Reads the resident set size in bytes from /proc/PID/statm. */
int proc_rss(pid_t pid, uint64_t *bytes);

/* The SG_E* code for errno after a failed open or read under /proc:
 * -SG_EPERM for EACCES / EPERM, else -SG_ENOPROC. */
int proc_errno_code(void);

/* Reads a small /proc file into buf (NUL-terminated). Returns the bytes
 * read, or a negative SG_E* code. */
int proc_read_small(const char *path, char *buf, size_t size);

/* The one-letter state of a /proc stat line: it follows the last ')' (the
 * end of the command name, which may itself hold parentheses). */
int proc_parse_state(const char *buf, char *state);

/* Reads a stat file at path and returns its state letter. */
int proc_stat_state(const char *path, char *state);

#endif

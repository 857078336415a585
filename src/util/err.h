/*
 * err.h - the error codes every layer returns, and their descriptions.
 *
 * Functions return 0 on success or a negated SG_E* code; the command layer
 * (src/cmd/) decides what to print. These live in util/ because readers of
 * saved files (import/, report/) and writers (format/) need them as much as
 * the memory reader does.
 */
#ifndef SPYGLASS_UTIL_ERR_H
#define SPYGLASS_UTIL_ERR_H

enum {
    SG_OK = 0,
    SG_ENOPROC = 1,  /* the process does not exist (or exited) */
    SG_EPERM = 2,    /* not allowed to read it */
    SG_EFAULT = 3,   /* address not mapped / short read */
    SG_ENOTPY = 4,   /* not a Python process */
    SG_EVERSION = 5, /* a Python we do not support */
    SG_ECORRUPT = 6, /* data read does not validate (torn read, garbage) */
    SG_EIO = 7,      /* an I/O error on a local file */
    SG_ENOMEM = 8,   /* a bounded buffer is too small */
};

/* Returns a short static description of an SG_E* code (positive or negative). */
const char *sg_strerror(int err);

#endif

/*
 * err.c - descriptions of the SG_E* codes (util/err.h).
 */
#include "util/err.h"

const char *sg_strerror(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case SG_OK:
        return "success";
    case SG_ENOPROC:
        return "no such process";
    case SG_EPERM:
        return "permission denied";
    case SG_EFAULT:
        return "address not readable";
    case SG_ENOTPY:
        return "not a Python process";
    case SG_EVERSION:
        return "unsupported Python version";
    case SG_ECORRUPT:
        return "inconsistent data (target changed while reading)";
    case SG_EIO:
        return "input/output error";
    case SG_ENOMEM:
        return "too large";
    }
    return "unknown error";
}

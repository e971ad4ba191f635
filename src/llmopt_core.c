/*
 * Copyright (C) llmopt authors
 */


#include <stdarg.h>
#include <stdio.h>

#include "llmopt_core.h"


void
llmopt_err_set(llmopt_err_t *err, int status, size_t offset,
    const char *fmt, ...)
{
    va_list  args;

    if (err == NULL) {
        return;
    }

    err->status = status;
    err->offset = offset;

    va_start(args, fmt);
    (void) vsnprintf(err->msg, sizeof(err->msg), fmt, args);
    va_end(args);
}

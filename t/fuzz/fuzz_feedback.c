/*
 * Copyright (C) llmopt authors
 *
 * Fuzzes the feedback body parser: accepted bodies have a score in [0, 1]
 * and an id of 32 lower-case hex digits; refused ones say why.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_feedback.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t             i;
    llmopt_err_t       err;
    llmopt_feedback_t  fb;

    memset(&err, 0, sizeof(err));

    if (llmopt_feedback_parse(data, size, &fb, &err) != LLMOPT_OK) {
        if (fb.code == NULL || err.msg[0] == '\0' || err.status != 400) {
            abort();
        }
        return 0;
    }

    if (!(fb.score >= 0 && fb.score <= 1) || strlen(fb.id_hex) != 32) {
        abort();
    }

    for (i = 0; i < 32; i++) {
        if (!((fb.id_hex[i] >= '0' && fb.id_hex[i] <= '9')
              || (fb.id_hex[i] >= 'a' && fb.id_hex[i] <= 'f')))
        {
            abort();
        }
    }

    if (fb.kind == LLMOPT_FEEDBACK_TOKEN && strlen(fb.sig_hex) != 64) {
        abort();
    }

    return 0;
}

/*
 * Copyright (C) llmopt authors
 *
 * Fuzzes the response usage scanners (JSON and SSE, both dialects, with
 * and without stripping the usage chunk) fed in chunks of sizes the input
 * chooses.  Checks the contract of docs/USAGE.md: pass + drop + hold ==
 * held before + consumed, hold within bounds, and every byte of the body
 * either passed or dropped in the end, in order.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_usage.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t              pos, n, held, total_pass, total_drop, chunk;
    unsigned char      *pending, *output;
    unsigned            mode, seed;
    llmopt_usage_t      u;
    llmopt_usage_out_t  out;
    llmopt_dialect_e    dialect;
    int                 sse, strip;

    if (size < 2) {
        return 0;
    }

    mode = data[0];
    seed = data[1];
    data += 2;
    size -= 2;

    dialect = (mode & 1) ? LLMOPT_DIALECT_ANTHROPIC : LLMOPT_DIALECT_OPENAI;
    sse = (mode >> 1) & 1;
    strip = (mode >> 2) & 1;

    llmopt_usage_init(&u, dialect, sse, strip);

    /* what the glue keeps: the held bytes, then the output */
    pending = malloc(size + LLMOPT_USAGE_HOLD_MAX + 1);
    output = malloc(size + 1);
    if (pending == NULL || output == NULL) {
        free(pending);
        free(output);
        return 0;
    }

    held = 0;
    total_pass = 0;
    total_drop = 0;
    pos = 0;

    while (pos < size) {
        chunk = 1 + (seed * 2654435761u + pos) % (1 + (mode >> 3) * 8);
        n = size - pos < chunk ? size - pos : chunk;

        for ( ;; ) {
            memset(&out, 0, sizeof(out));
            llmopt_usage_feed(&u, data + pos, n, &out);

            if (out.consumed > n
                || out.pass + out.drop + out.hold != held + out.consumed
                || out.hold > LLMOPT_USAGE_HOLD_MAX)
            {
                abort();
            }

            /* pending = held bytes + the consumed ones, in order */
            memcpy(pending + held, data + pos, out.consumed);
            held += out.consumed;

            memcpy(output + total_pass, pending, out.pass);
            total_pass += out.pass;
            total_drop += out.drop;
            memmove(pending, pending + out.pass + out.drop, out.hold);
            held = out.hold;

            pos += out.consumed;
            n -= out.consumed;

            if (n == 0) {
                break;
            }

            if (out.consumed == 0 && out.drop == 0) {
                abort();                /* no progress */
            }
        }
    }

    memset(&out, 0, sizeof(out));
    llmopt_usage_finish(&u, &out);

    if (out.pass + out.drop + out.hold != held || out.hold != 0) {
        abort();
    }

    memcpy(output + total_pass, pending, out.pass);
    total_pass += out.pass;
    total_drop += out.drop;

    if (total_pass + total_drop != size) {
        abort();                        /* a byte lost or made up */
    }

    if (!strip && (total_drop != 0 || memcmp(output, data, size) != 0)) {
        abort();                        /* without strip: untouched */
    }

    if (u.input_tokens < 0 || u.output_tokens < 0) {
        abort();
    }

    free(pending);
    free(output);

    return 0;
}

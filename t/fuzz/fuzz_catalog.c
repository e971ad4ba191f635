/*
 * Copyright (C) llmopt authors
 *
 * Fuzzes the YAML catalog loader: any text loads or fails with a message,
 * never crashes or leaks (every allocation is freed after each input).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_catalog.h"


static void    **blocks;
static size_t    n_blocks, cap_blocks;


static void *
fuzz_alloc(void *ctx, size_t size)
{
    void  *p, **b;

    if (n_blocks == cap_blocks) {
        cap_blocks = cap_blocks ? 2 * cap_blocks : 256;
        b = realloc(blocks, cap_blocks * sizeof(void *));
        if (b == NULL) {
            return NULL;
        }
        blocks = b;
    }

    p = calloc(1, size ? size : 1);
    if (p != NULL) {
        blocks[n_blocks++] = p;
    }

    return p;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 rc;
    llmopt_err_t        err;
    llmopt_catalog_t    cat;
    llmopt_alloc_t      alloc = { fuzz_alloc, NULL };

    memset(&err, 0, sizeof(err));
    setenv("FUZZ_KEY", "secret", 1);

    rc = llmopt_catalog_load_string(&cat, "fuzz.yaml", (const char *) data,
                                    size, &alloc, &err);

    if (rc != LLMOPT_OK && err.msg[0] == '\0') {
        abort();                        /* a failure must say why */
    }

    while (n_blocks) {
        free(blocks[--n_blocks]);
    }

    return 0;
}

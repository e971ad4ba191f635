/*
 * Copyright (C) llmopt authors
 *
 * The unit tests' allocator for catalogs and the like: zeroed blocks,
 * all of them freed at once by test_free_all().
 */

#ifndef _LLMOPT_TEST_ALLOC_H_INCLUDED_
#define _LLMOPT_TEST_ALLOC_H_INCLUDED_


#include <stdlib.h>
#include <string.h>

#include "llmopt_core.h"


typedef struct test_block_s  test_block_t;

struct test_block_s {
    test_block_t  *next;
    char           data[];
};


static test_block_t  *test_blocks;


static void *
test_alloc(void *ctx, size_t size)
{
    test_block_t  *b;

    b = calloc(1, sizeof(test_block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = test_blocks;
    test_blocks = b;

    return b->data;
}


static llmopt_alloc_t  test_allocator = { test_alloc, NULL };


static void
test_free_all(void)
{
    test_block_t  *b;

    while (test_blocks != NULL) {
        b = test_blocks;
        test_blocks = b->next;
        free(b);
    }
}


#endif /* _LLMOPT_TEST_ALLOC_H_INCLUDED_ */

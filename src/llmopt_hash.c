/*
 * Copyright (C) llmopt authors
 */


#include "llmopt_hash.h"


static uint64_t llmopt_hash_read64(const unsigned char *p);


/*
 * Each 8-byte word is multiplied into the state and the state is rotated,
 * so word order matters; the length and the seed enter before the words and
 * a full avalanche finishes.
 */

uint64_t
llmopt_hash64(const void *data, size_t len, uint64_t seed)
{
    uint64_t              h, k;
    size_t                i, rest;
    const unsigned char  *p;

    p = data;
    h = llmopt_hash_mix64(seed + LLMOPT_HASH_M1) ^ (len * LLMOPT_HASH_M2);

    for (i = 0; i + 8 <= len; i += 8) {
        k = llmopt_hash_read64(p + i) * LLMOPT_HASH_M3;
        k ^= k >> 29;
        h ^= k;
        h = ((h << 23) | (h >> 41)) * LLMOPT_HASH_M1 + LLMOPT_HASH_M2;
    }

    rest = len - i;

    if (rest != 0) {
        k = 0;

        while (rest != 0) {
            rest--;
            k = (k << 8) | p[i + rest];
        }

        k *= LLMOPT_HASH_M3;
        k ^= k >> 29;
        h ^= k;
        h = ((h << 23) | (h >> 41)) * LLMOPT_HASH_M1;
    }

    return llmopt_hash_mix64(h);
}


static uint64_t
llmopt_hash_read64(const unsigned char *p)
{
    return (uint64_t) p[0]
           | (uint64_t) p[1] << 8
           | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24
           | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40
           | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}

/*
 * Copyright (C) llmopt authors
 *
 * SHA-256 (FIPS 180-4), for keys that must not collide: a cache key
 * that two different requests shared would serve one the other's answer.
 * Incremental; no allocation.
 */

#ifndef _LLMOPT_SHA256_H_INCLUDED_
#define _LLMOPT_SHA256_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LLMOPT_SHA256_LEN  32


typedef struct {
    uint32_t       h[8];
    uint64_t       bytes;                  /* hashed so far */
    unsigned char  block[64];
    size_t         fill;                   /* bytes in block */
} llmopt_sha256_t;


void llmopt_sha256_init(llmopt_sha256_t *s);

/* Adds len bytes at data; len 0 is allowed. */
void llmopt_sha256_update(llmopt_sha256_t *s, const void *data, size_t len);

/* The digest into out; s must be initialised again before reuse. */
void llmopt_sha256_final(llmopt_sha256_t *s,
    unsigned char out[LLMOPT_SHA256_LEN]);


#endif /* _LLMOPT_SHA256_H_INCLUDED_ */

/*
 * Copyright (C) llmopt authors
 *
 * A fast non-cryptographic 64-bit hash for bucketing (tenants, words) and
 * shape fingerprints.  Not for anything an attacker must not steer.
 */

#ifndef _LLMOPT_HASH_H_INCLUDED_
#define _LLMOPT_HASH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LLMOPT_HASH_M1  0x9e3779b97f4a7c15ULL
#define LLMOPT_HASH_M2  0xbf58476d1ce4e5b9ULL
#define LLMOPT_HASH_M3  0x94d049bb133111ebULL


/*
 * Hashes len bytes at data with a seed.  The same input, seed and build
 * always give the same value, on every platform (bytes are read as little
 * endian), so values may be stored in shared memory, files and Redis.
 */
uint64_t llmopt_hash64(const void *data, size_t len, uint64_t seed);


/*
 * Mixes the 64 bits of x so that every output bit depends on every input
 * bit; a bijection.  Used to finish hashes built incrementally.
 */
static inline uint64_t
llmopt_hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= LLMOPT_HASH_M2;
    x ^= x >> 27;
    x *= LLMOPT_HASH_M3;
    x ^= x >> 31;

    return x;
}


#endif /* _LLMOPT_HASH_H_INCLUDED_ */

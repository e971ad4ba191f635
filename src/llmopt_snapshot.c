
/*
 * Copyright (C) llmopt authors
 *
 * The state file image; docs/LEARNING.md ("State file") has the layout.
 *
 *   "LLMOSTAT" u32 version u32 header-size u64 created u64 catalog u32 n
 *   u32 0, then per entry: u16 name_len, name, zero pad to 8, u64 shape,
 *   u64 size, params (size bytes, padded to 8), then u64 hash of all
 *   bytes before it.  Little-endian.
 */


#include <string.h>

#include "llmopt_snapshot.h"
#include "llmopt_hash.h"


#define LLMOPT_SNAPSHOT_MAGIC    "LLMOSTAT"
#define LLMOPT_SNAPSHOT_VERSION  1
#define LLMOPT_SNAPSHOT_HEADER   40
#define LLMOPT_SNAPSHOT_SEED     0x6c6c6d6f73746174ULL


#define llmopt_pad8(n)  (((n) + 7) & ~(size_t) 7)


static void
llmopt_put(unsigned char *p, uint64_t v, unsigned n)
{
    unsigned  i;

    for (i = 0; i < n; i++) {
        p[i] = (unsigned char) (v >> (8 * i));
    }
}


static uint64_t
llmopt_get(const unsigned char *p, unsigned n)
{
    unsigned  i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < n; i++) {
        v |= (uint64_t) p[i] << (8 * i);
    }

    return v;
}


size_t
llmopt_snapshot_size(const llmopt_snapshot_entry_t *e, unsigned n)
{
    size_t    size;
    unsigned  i;

    size = LLMOPT_SNAPSHOT_HEADER;

    for (i = 0; i < n; i++) {
        size += llmopt_pad8(2 + e[i].name_len) + 16 + llmopt_pad8(e[i].size);
    }

    return size + 8;
}


int
llmopt_snapshot_encode(void *buf, size_t len, uint64_t created_ms,
    uint64_t catalog, const llmopt_snapshot_entry_t *e, unsigned n)
{
    unsigned        i;
    unsigned char  *p, *start;

    if (len < llmopt_snapshot_size(e, n)) {
        return LLMOPT_ERROR;
    }

    start = buf;
    p = start;

    memset(p, 0, llmopt_snapshot_size(e, n));

    memcpy(p, LLMOPT_SNAPSHOT_MAGIC, 8);
    llmopt_put(p + 8, LLMOPT_SNAPSHOT_VERSION, 4);
    llmopt_put(p + 12, LLMOPT_SNAPSHOT_HEADER, 4);
    llmopt_put(p + 16, created_ms, 8);
    llmopt_put(p + 24, catalog, 8);
    llmopt_put(p + 32, n, 4);
    p += LLMOPT_SNAPSHOT_HEADER;

    for (i = 0; i < n; i++) {
        if (e[i].name_len == 0 || e[i].name_len > 255) {
            return LLMOPT_ERROR;
        }

        llmopt_put(p, e[i].name_len, 2);
        memcpy(p + 2, e[i].name, e[i].name_len);
        p += llmopt_pad8(2 + e[i].name_len);

        llmopt_put(p, e[i].shape, 8);
        llmopt_put(p + 8, e[i].size, 8);
        p += 16;

        memcpy(p, e[i].params, e[i].size);
        p += llmopt_pad8(e[i].size);
    }

    llmopt_put(p, llmopt_hash64(start, p - start, LLMOPT_SNAPSHOT_SEED), 8);

    return LLMOPT_OK;
}


int
llmopt_snapshot_decode(const void *buf, size_t len,
    llmopt_snapshot_entry_t *e, unsigned *n, uint64_t *created_ms,
    uint64_t *catalog, llmopt_err_t *err)
{
    size_t                k, size, name_len;
    unsigned              i, count;
    uint64_t              version;
    const unsigned char  *p, *end, *start;

    start = buf;

    if (len < 8 || memcmp(start, LLMOPT_SNAPSHOT_MAGIC, 8) != 0) {
        llmopt_err_set(err, 0, 0, "not an llmopt state file");
        return LLMOPT_ERROR;
    }

    if (len < LLMOPT_SNAPSHOT_HEADER + 8) {
        llmopt_err_set(err, 0, len, "truncated state file");
        return LLMOPT_ERROR;
    }

    version = llmopt_get(start + 8, 4);

    if (version != LLMOPT_SNAPSHOT_VERSION
        || llmopt_get(start + 12, 4) != LLMOPT_SNAPSHOT_HEADER)
    {
        llmopt_err_set(err, 0, 8, "state file version %u is not supported",
                       (unsigned) version);
        return LLMOPT_ERROR;
    }

    if (llmopt_get(start + len - 8, 8)
        != llmopt_hash64(start, len - 8, LLMOPT_SNAPSHOT_SEED))
    {
        llmopt_err_set(err, 0, len - 8,
                       "checksum mismatch (damaged or truncated)");
        return LLMOPT_ERROR;
    }

    count = (unsigned) llmopt_get(start + 32, 4);

    if (count > *n) {
        llmopt_err_set(err, 0, 32, "state file has %u entries, more than "
                       "room for %u", count, *n);
        *n = count;
        return LLMOPT_AGAIN;
    }

    p = start + LLMOPT_SNAPSHOT_HEADER;
    end = start + len - 8;

    for (i = 0; i < count; i++) {
        if (end - p < 2) {
            goto truncated;
        }

        name_len = (size_t) llmopt_get(p, 2);
        k = llmopt_pad8(2 + name_len);

        if (name_len == 0 || (size_t) (end - p) < k + 16) {
            goto truncated;
        }

        e[i].name = (const char *) p + 2;
        e[i].name_len = name_len;
        p += k;

        e[i].shape = llmopt_get(p, 8);
        size = (size_t) llmopt_get(p + 8, 8);
        p += 16;

        if (size > (size_t) (end - p) || llmopt_pad8(size) > (size_t) (end - p))
        {
            goto truncated;
        }

        e[i].params = p;
        e[i].size = size;
        p += llmopt_pad8(size);
    }

    if (p != end) {
        goto truncated;
    }

    *n = count;

    if (created_ms) {
        *created_ms = llmopt_get(start + 16, 8);
    }

    if (catalog) {
        *catalog = llmopt_get(start + 24, 8);
    }

    return LLMOPT_OK;

truncated:

    llmopt_err_set(err, 0, p - start, "malformed state file");
    return LLMOPT_ERROR;
}


const llmopt_snapshot_entry_t *
llmopt_snapshot_find(const llmopt_snapshot_entry_t *e, unsigned n,
    const char *name, size_t len)
{
    unsigned  i;

    for (i = 0; i < n; i++) {
        if (e[i].name_len == len && memcmp(e[i].name, name, len) == 0) {
            return &e[i];
        }
    }

    return NULL;
}

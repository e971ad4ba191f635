/*
 * Copyright (C) llmopt authors
 *
 * A sequence lock for one writer and readers in other processes, over
 * shared memory (GCC __atomic builtins; header only).
 *
 * The writer makes the counter odd, writes the data, makes it even again.
 * A reader samples the counter, reads the data, and keeps what it read only
 * if the counter was even and has not moved.  Readers never store to the
 * lock, so they never slow the writer down, and they never wait: a reader
 * tries a bounded number of times (LLMOPT_SEQLOCK_TRIES is the usual
 * bound) and then falls back to data it copied earlier, so a writer that
 * died inside write_begin/write_end (counter odd for ever) cannot stall a
 * request.
 *
 * Memory ordering (the pattern of Boehm, "Can seqlocks get along with
 * programming language memory models?", 2012):
 *
 *   writer                            reader
 *   seq = s + 1        (relaxed)      s0 = seq            (acquire)
 *   fence              (release)      ... read data ...
 *   ... write data ...                fence               (acquire)
 *   seq = s + 2        (release)      s1 = seq            (relaxed)
 *                                     consistent iff s0 even and s0 == s1
 *
 *   - The release fence after the odd store keeps every data store after
 *     it: a reader that saw any new data also sees the odd (or a later)
 *     counter in s1.
 *   - The release store of the even counter publishes every data store
 *     before it: a reader whose acquire load returns it sees all of them.
 *   - The reader's acquire load keeps its data loads after s0; the acquire
 *     fence keeps them before s1.
 *
 * The data themselves are read and written with plain accesses, as every
 * seqlock in C does in practice; the fences above are compiler barriers as
 * well as hardware ones, so GCC does not move the accesses across them.
 * What a reader reads between read_begin and read_retry may be torn: it
 * must not trust it (index with it, loop on it) before read_retry says it
 * was consistent, or must bound what a torn value can do (the bandits
 * bound every loop by their configuration, not by the block).
 *
 * One writer only: write_begin/write_end are not atomic read-modify-writes
 * and two writers would corrupt the counter.  In llmopt the trainer lease
 * guarantees it.
 */

#ifndef _LLMOPT_SEQLOCK_H_INCLUDED_
#define _LLMOPT_SEQLOCK_H_INCLUDED_


#include <stdint.h>
#include <string.h>

#include "llmopt_core.h"


#define LLMOPT_SEQLOCK_TRIES  4


typedef struct {
    uint64_t  seq;              /* odd while the writer is writing */
} llmopt_seqlock_t;


static inline void llmopt_seqlock_init(llmopt_seqlock_t *lock);
static inline uint64_t llmopt_seqlock_read_begin(const llmopt_seqlock_t *lock);
static inline int llmopt_seqlock_read_retry(const llmopt_seqlock_t *lock,
    uint64_t seq);
static inline void llmopt_seqlock_write_begin(llmopt_seqlock_t *lock);
static inline void llmopt_seqlock_write_end(llmopt_seqlock_t *lock);
static inline int llmopt_seqlock_read_copy(const llmopt_seqlock_t *lock,
    void *dst, const void *src, size_t size, unsigned tries, uint64_t *seq);


/* Before any process uses the lock (e.g. when the zone is created). */

static inline void
llmopt_seqlock_init(llmopt_seqlock_t *lock)
{
    __atomic_store_n(&lock->seq, 0, __ATOMIC_RELEASE);
}


/* Starts a read; the value is passed to read_retry. */

static inline uint64_t
llmopt_seqlock_read_begin(const llmopt_seqlock_t *lock)
{
    return __atomic_load_n(&lock->seq, __ATOMIC_ACQUIRE);
}


/*
 * Nonzero if what was read since read_begin returned seq must be dropped:
 * the writer was inside its section when the read started, or has entered
 * one since.
 */

static inline int
llmopt_seqlock_read_retry(const llmopt_seqlock_t *lock, uint64_t seq)
{
    __atomic_thread_fence(__ATOMIC_ACQUIRE);

    return (seq & 1) != 0
           || __atomic_load_n(&lock->seq, __ATOMIC_RELAXED) != seq;
}


/* Single writer: opens a write section.  Never blocks. */

static inline void
llmopt_seqlock_write_begin(llmopt_seqlock_t *lock)
{
    uint64_t  seq;

    seq = __atomic_load_n(&lock->seq, __ATOMIC_RELAXED);

    __atomic_store_n(&lock->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}


/* Single writer: closes the section and publishes what it wrote. */

static inline void
llmopt_seqlock_write_end(llmopt_seqlock_t *lock)
{
    uint64_t  seq;

    seq = __atomic_load_n(&lock->seq, __ATOMIC_RELAXED);

    __atomic_store_n(&lock->seq, seq + 1, __ATOMIC_RELEASE);
}


/*
 * Copies size bytes from src (guarded by lock) to dst (private), trying at
 * most "tries" times.  LLMOPT_OK: dst holds a consistent copy, and *seq
 * (if not NULL) the counter it was taken at, which tells a caller whether
 * anything was published since an earlier copy.  LLMOPT_AGAIN: the writer
 * kept the lock busy; dst holds garbage and the caller keeps using its
 * previous copy.
 */

static inline int
llmopt_seqlock_read_copy(const llmopt_seqlock_t *lock, void *dst,
    const void *src, size_t size, unsigned tries, uint64_t *seq)
{
    uint64_t  s;

    while (tries-- > 0) {
        s = llmopt_seqlock_read_begin(lock);

        if (s & 1) {
            continue;
        }

        memcpy(dst, src, size);

        if (!llmopt_seqlock_read_retry(lock, s)) {
            if (seq != NULL) {
                *seq = s;
            }

            return LLMOPT_OK;
        }
    }

    return LLMOPT_AGAIN;
}


#endif /* _LLMOPT_SEQLOCK_H_INCLUDED_ */

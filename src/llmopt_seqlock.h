/*
 * Copyright (C) llmopt authors
 *
 * A sequence lock for one writer and readers in other processes, over
 * shared memory.  The writer makes the counter odd, writes, makes it even;
 * a reader samples the counter, reads, and retries if the counter was odd
 * or moved.  Readers never write to the lock, so they never slow the
 * writer, and a reader never waits: after a bounded number of retries it
 * uses data it copied before.
 *
 * Ordering: read_begin is an acquire load, so the reads of the data cannot
 * move above it; read_retry issues an acquire fence before its relaxed
 * load, so the data reads cannot move below it.  write_begin stores the odd
 * value and issues a release fence, so it is visible before any data
 * store; write_end is a release store, so every data store is visible
 * before the even value.  Data read under the lock may be torn while the
 * counter moves: readers must not trust it (e.g. index with it) before
 * read_retry says it was consistent, or must bound what a torn value can
 * do.
 */

#ifndef _LLMOPT_SEQLOCK_H_INCLUDED_
#define _LLMOPT_SEQLOCK_H_INCLUDED_


#include <stdint.h>


typedef struct {
    volatile uint64_t  seq;
} llmopt_seqlock_t;


static inline uint64_t
llmopt_seqlock_read_begin(const llmopt_seqlock_t *lock)
{
    return __atomic_load_n(&lock->seq, __ATOMIC_ACQUIRE);
}


/* Nonzero if what was read since read_begin returned seq must be dropped. */

static inline int
llmopt_seqlock_read_retry(const llmopt_seqlock_t *lock, uint64_t seq)
{
    __atomic_thread_fence(__ATOMIC_ACQUIRE);

    return (seq & 1) != 0
           || __atomic_load_n(&lock->seq, __ATOMIC_RELAXED) != seq;
}


static inline void
llmopt_seqlock_write_begin(llmopt_seqlock_t *lock)
{
    __atomic_store_n(&lock->seq, lock->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}


static inline void
llmopt_seqlock_write_end(llmopt_seqlock_t *lock)
{
    __atomic_store_n(&lock->seq, lock->seq + 1, __ATOMIC_RELEASE);
}


#endif /* _LLMOPT_SEQLOCK_H_INCLUDED_ */

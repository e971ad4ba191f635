/*
 * Copyright (C) llmopt authors
 *
 * The seqlock across processes: a writer process rewrites a record of many
 * words, all equal, while this process reads it; no read accepted by the
 * lock may be torn.
 */

#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "tap.h"
#include "llmopt_core.h"
#include "llmopt_seqlock.h"


#define WORDS    32                     /* 256 bytes: several cache lines */
#define WRITES   2000000
#define READS    20000000               /* bound on the reader's loop */


typedef struct {
    llmopt_seqlock_t  lock;
    uint64_t          writer_done;
    uint64_t          record[WORDS];
} shared_t;


static void test_single_process(void);
static void test_processes(void);
static void test_stuck_writer(void);
static int torn(const uint64_t *record);


int
main(void)
{
    test_single_process();
    test_processes();
    test_stuck_writer();

    return tap_done();
}


static int
torn(const uint64_t *record)
{
    unsigned  i;

    for (i = 1; i < WORDS; i++) {
        if (record[i] != record[0]) {
            return 1;
        }
    }

    return 0;
}


static void
test_single_process(void)
{
    uint64_t          seq, s;
    llmopt_seqlock_t  lock;

    llmopt_seqlock_init(&lock);

    seq = llmopt_seqlock_read_begin(&lock);
    ok(!llmopt_seqlock_read_retry(&lock, seq), "quiet lock: read valid");

    seq = llmopt_seqlock_read_begin(&lock);
    llmopt_seqlock_write_begin(&lock);
    ok(llmopt_seqlock_read_retry(&lock, seq),
       "a write starting during a read invalidates it");

    s = llmopt_seqlock_read_begin(&lock);
    ok(s & 1, "counter odd inside a write");
    ok(llmopt_seqlock_read_retry(&lock, s), "a read begun inside a write "
       "is invalid");

    llmopt_seqlock_write_end(&lock);
    ok(llmopt_seqlock_read_retry(&lock, seq),
       "a write completed during a read invalidates it");

    seq = llmopt_seqlock_read_begin(&lock);
    is_int(seq, 2, "one write moves the counter by 2");
    ok(!llmopt_seqlock_read_retry(&lock, seq), "read after write valid");
}


static void
test_processes(void)
{
    int        status;
    pid_t      pid;
    uint64_t   seq, last, copy[WORDS];
    unsigned   i, w;
    unsigned   accepted, rejected, torn_accepted, backwards, copies;
    shared_t  *sh;

    sh = mmap(NULL, sizeof(shared_t), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (sh == MAP_FAILED) {
        ok(0, "mmap shared memory");
        return;
    }

    memset(sh, 0, sizeof(shared_t));
    llmopt_seqlock_init(&sh->lock);

    pid = fork();

    if (pid == 0) {
        /* the writer: WRITES records, then done */

        for (i = 1; i <= WRITES; i++) {
            llmopt_seqlock_write_begin(&sh->lock);

            for (w = 0; w < WORDS; w++) {
                sh->record[w] = i;
            }

            llmopt_seqlock_write_end(&sh->lock);

            /* a pause outside the section, so that readers get windows */

            for (w = 0; w < 64; w++) {
                __asm__ __volatile__ ("" ::: "memory");
            }
        }

        __atomic_store_n(&sh->writer_done, 1, __ATOMIC_RELEASE);
        _exit(0);
    }

    ok(pid > 0, "fork a writer process");

    if (pid < 0) {
        return;
    }

    accepted = 0;
    rejected = 0;
    torn_accepted = 0;
    backwards = 0;
    copies = 0;
    last = 0;

    for (i = 0; i < READS; i++) {
        if (__atomic_load_n(&sh->writer_done, __ATOMIC_ACQUIRE)) {
            break;
        }

        if (i & 1) {
            /* by hand, as the bandit's select does */

            seq = llmopt_seqlock_read_begin(&sh->lock);

            for (w = 0; w < WORDS; w++) {
                copy[w] = sh->record[w];
            }

            if (llmopt_seqlock_read_retry(&sh->lock, seq)) {
                rejected++;
                continue;
            }

        } else {
            if (llmopt_seqlock_read_copy(&sh->lock, copy, sh->record,
                                         sizeof(copy), LLMOPT_SEQLOCK_TRIES,
                                         NULL)
                != LLMOPT_OK)
            {
                rejected++;
                continue;
            }

            copies++;
        }

        accepted++;
        torn_accepted += torn(copy);
        backwards += copy[0] < last;
        last = copy[0];
    }

    if (waitpid(pid, &status, 0) != pid) {
        status = -1;
    }

    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer exited");
    ok(accepted > 0, "reader accepted %u reads (%u rejected, %u copies)",
       accepted, rejected, copies);
    is_int(torn_accepted, 0, "no accepted read was torn");
    is_int(backwards, 0, "accepted reads never go back in time");
    ok(copies > 0, "read_copy succeeded under contention");

    /* after the writer: the final record, read cleanly */

    ok(llmopt_seqlock_read_copy(&sh->lock, copy, sh->record, sizeof(copy),
                                1, &seq) == LLMOPT_OK
       && copy[0] == WRITES && !torn(copy) && seq == 2ULL * WRITES,
       "final record read after the writer ended");

    munmap(sh, sizeof(shared_t));
}


static void
test_stuck_writer(void)
{
    uint64_t          seq, dst, src;
    llmopt_seqlock_t  lock;

    /* a writer that died inside its section leaves the counter odd */

    llmopt_seqlock_init(&lock);
    llmopt_seqlock_write_begin(&lock);

    src = 7;
    dst = 0;
    seq = 12345;

    is_int(llmopt_seqlock_read_copy(&lock, &dst, &src, sizeof(src), 1000,
                                    &seq),
           LLMOPT_AGAIN, "a stuck writer: bounded read gives up");
    is_int(seq, 12345, "seq untouched when giving up");
    is_int(llmopt_seqlock_read_copy(&lock, &dst, &src, sizeof(src), 0, NULL),
           LLMOPT_AGAIN, "zero tries gives up at once");
}

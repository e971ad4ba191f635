/*
 * Copyright (C) llmopt authors
 *
 * Bandits, RNG and seqlock of the core.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "tap.h"
#include "llmopt_bandit.h"
#include "llmopt_rng.h"
#include "llmopt_seqlock.h"


static void test_rng(void);
static void test_names(void);
static void test_static(void);
static void test_learns(llmopt_algorithm_e alg, double threshold);
static void test_mask(void);
static void test_epsilon_propensity(void);
static void test_linucb_inverse(void);
static void test_merge(void);
static void test_forgetting(void);
static void test_seqlock(void);
static void *block_for(llmopt_bandit_conf_t *conf);


int
main(void)
{
    test_rng();
    test_names();
    test_static();
    test_learns(LLMOPT_ALG_LINUCB, 0.9);
    test_learns(LLMOPT_ALG_LIN_TS, 0.9);
    test_mask();
    test_epsilon_propensity();
    test_linucb_inverse();
    test_merge();
    test_forgetting();
    test_seqlock();

    return tap_done();
}


static void *
block_for(llmopt_bandit_conf_t *conf)
{
    void  *block;

    block = malloc(llmopt_bandit_size(conf));
    llmopt_bandit_init(conf, block);

    return block;
}


static void
test_rng(void)
{
    int           i, same;
    double        sum, sum2, x, bsum;
    llmopt_rng_t  a, b;

    llmopt_rng_seed(&a, 42);
    llmopt_rng_seed(&b, 42);

    same = 1;
    for (i = 0; i < 100; i++) {
        same &= llmopt_rng_next(&a) == llmopt_rng_next(&b);
    }
    ok(same, "rng: same seed, same stream");

    llmopt_rng_seed(&b, 43);
    ok(llmopt_rng_next(&a) != llmopt_rng_next(&b), "rng: seeds differ");

    sum = 0;
    for (i = 0; i < 100000; i++) {
        x = llmopt_rng_uniform(&a);
        if (x < 0 || x >= 1) {
            break;
        }
        sum += x;
    }
    is_int(i, 100000, "rng: uniform in [0, 1)");
    is_num(sum / 100000, 0.5, 0.01, "rng: uniform mean");

    sum = sum2 = 0;
    for (i = 0; i < 100000; i++) {
        x = llmopt_rng_normal(&a);
        sum += x;
        sum2 += x * x;
    }
    is_num(sum / 100000, 0.0, 0.02, "rng: normal mean");
    is_num(sum2 / 100000, 1.0, 0.03, "rng: normal variance");

    bsum = 0;
    for (i = 0; i < 50000; i++) {
        bsum += llmopt_rng_beta(&a, 2.0, 6.0);
    }
    is_num(bsum / 50000, 0.25, 0.01, "rng: beta(2, 6) mean");

    sum = 0;
    for (i = 0; i < 50000; i++) {
        sum += llmopt_rng_gamma(&a, 0.5);
    }
    is_num(sum / 50000, 0.5, 0.03, "rng: gamma(0.5) mean");
}


static void
test_names(void)
{
    is_int(llmopt_algorithm_lookup("linucb", 6), LLMOPT_ALG_LINUCB,
           "lookup linucb");
    is_int(llmopt_algorithm_lookup("epsilon_greedy", 14),
           LLMOPT_ALG_EPSILON_GREEDY, "lookup epsilon_greedy");
    is_int(llmopt_algorithm_lookup("linucbx", 7), -1, "lookup unknown");
    is_str(llmopt_algorithm_name(LLMOPT_ALG_LIN_TS), "lin_ts", "name");
    is_str(llmopt_algorithm_name((llmopt_algorithm_e) 99), "unknown",
           "name of a bad id");
}


static void
test_static(void)
{
    int                   i, count[3];
    void                 *block;
    double                x[1] = { 1 };
    llmopt_rng_t          rng;
    llmopt_choice_t       c;
    llmopt_bandit_conf_t  conf;

    llmopt_bandit_conf_defaults(&conf);
    conf.algorithm = LLMOPT_ALG_STATIC;
    conf.n_arms = 3;
    conf.d = 1;
    conf.weights[0] = 1;
    conf.weights[1] = 0;
    conf.weights[2] = 3;

    block = block_for(&conf);
    llmopt_rng_seed(&rng, 1);
    memset(count, 0, sizeof(count));

    for (i = 0; i < 40000; i++) {
        if (llmopt_bandit_select(&conf, block, x, NULL, &rng, &c)
            != LLMOPT_OK)
        {
            break;
        }
        count[c.arm]++;
    }

    is_int(i, 40000, "static: always chooses");
    is_int(count[1], 0, "static: weight 0 never chosen");
    is_num(count[2] / 40000.0, 0.75, 0.01, "static: weights respected");
    is_num(c.propensity, c.arm == 0 ? 0.25 : 0.75, 1e-12,
           "static: exact propensity");

    conf.weights[0] = 0;
    conf.weights[2] = 0;
    is_int(llmopt_bandit_select(&conf, block, x, NULL, &rng, &c),
           LLMOPT_DECLINED, "static: all weights zero declines");

    free(block);
}


/*
 * Two arms, contexts with a code flag: arm 0 is better on code, arm 1 on
 * the rest; Bernoulli rewards.  After learning, the greedy choice is right.
 */

static void
test_learns(llmopt_algorithm_e alg, double threshold)
{
    int                   i, right, code;
    void                 *block;
    double                x[3], p;
    llmopt_rng_t          rng, env;
    llmopt_choice_t       c;
    llmopt_bandit_conf_t  conf;

    llmopt_bandit_conf_defaults(&conf);
    conf.algorithm = alg;
    conf.n_arms = 2;
    conf.d = 3;
    conf.alpha = 0.5;

    block = block_for(&conf);
    llmopt_rng_seed(&rng, 5);
    llmopt_rng_seed(&env, 6);

    for (i = 0; i < 3000; i++) {
        code = llmopt_rng_uniform(&env) < 0.5;
        x[0] = 1;
        x[1] = code;
        x[2] = llmopt_rng_uniform(&env) * 0.1;

        llmopt_bandit_select(&conf, block, x, NULL, &rng, &c);

        p = (code == (c.arm == 0)) ? 0.8 : 0.3;
        llmopt_bandit_update(&conf, block, c.arm, x,
                             llmopt_rng_uniform(&env) < p ? 1.0 : 0.0);
    }

    right = 0;
    for (i = 0; i < 1000; i++) {
        code = i % 2;
        x[0] = 1;
        x[1] = code;
        x[2] = 0.05;
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &c);
        right += code == (c.arm == 0);
    }

    ok(right >= threshold * 1000, "%s: learns the contextual optimum "
       "(%d of 1000 right)", llmopt_algorithm_name(alg), right);
    is_int(llmopt_bandit_updates(block), 3000, "%s: counts updates",
           llmopt_algorithm_name(alg));
    is_int(llmopt_bandit_arm_count(&conf, block, 0)
           + llmopt_bandit_arm_count(&conf, block, 1), 3000,
           "%s: per-arm counts add up", llmopt_algorithm_name(alg));

    free(block);
}


static void
test_mask(void)
{
    int                    i, alg, bad;
    void                  *block;
    double                 x[2] = { 1, 0.5 };
    unsigned char          allowed[3] = { 0, 1, 0 }, none[3] = { 0, 0, 0 };
    llmopt_rng_t           rng;
    llmopt_choice_t        c;
    llmopt_bandit_conf_t   conf;

    llmopt_rng_seed(&rng, 9);

    for (alg = LLMOPT_ALG_STATIC; alg <= LLMOPT_ALG_EPSILON_GREEDY; alg++) {
        llmopt_bandit_conf_defaults(&conf);
        conf.algorithm = (llmopt_algorithm_e) alg;
        conf.n_arms = 3;
        conf.d = 2;
        conf.epsilon = 0.5;
        conf.exploration_floor = 0.2;

        block = block_for(&conf);
        bad = 0;

        for (i = 0; i < 200; i++) {
            if (llmopt_bandit_select(&conf, block, x, allowed, &rng, &c)
                != LLMOPT_OK || c.arm != 1)
            {
                bad++;
            }
            llmopt_bandit_update(&conf, block, c.arm, x, 0.5);
        }

        is_int(bad, 0, "%s: only allowed arms",
               llmopt_algorithm_name((llmopt_algorithm_e) alg));
        is_int(llmopt_bandit_select(&conf, block, x, none, &rng, &c),
               LLMOPT_DECLINED, "%s: no allowed arm declines",
               llmopt_algorithm_name((llmopt_algorithm_e) alg));
        free(block);
    }
}


static void
test_epsilon_propensity(void)
{
    int                   i, greedy, wrong;
    void                 *block;
    double                x[1] = { 1 };
    llmopt_rng_t          rng;
    llmopt_choice_t       c;
    llmopt_bandit_conf_t  conf;

    llmopt_bandit_conf_defaults(&conf);
    conf.algorithm = LLMOPT_ALG_EPSILON_GREEDY;
    conf.n_arms = 4;
    conf.d = 1;
    conf.epsilon = 0.2;

    block = block_for(&conf);
    llmopt_rng_seed(&rng, 3);

    for (i = 0; i < 50; i++) {
        llmopt_bandit_update(&conf, block, 2, x, 1.0);
        llmopt_bandit_update(&conf, block, 0, x, 0.0);
    }

    greedy = 0;
    wrong = 0;
    for (i = 0; i < 20000; i++) {
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &c);
        /* greedy: 1 - e + e/k = 0.85; any other arm: e/k = 0.05 */
        if (fabs(c.propensity - (c.arm == 2 ? 0.85 : 0.05)) > 1e-12) {
            wrong++;
        }
        greedy += c.arm == 2;
    }
    is_int(wrong, 0, "epsilon: every propensity exact");
    is_num(greedy / 20000.0, 0.85, 0.01, "epsilon: greedy share 1-e+e/k");
    is_num(llmopt_bandit_arm_mean(&conf, block, 2), 1.0, 1e-12,
           "epsilon: arm mean");

    free(block);
}


/* Sherman-Morrison keeps A^-1 the inverse of A after many updates */

static void
test_linucb_inverse(void)
{
    int                   i, j, k;
    void                 *block, *copy;
    double                x[6], err, prod, *a, *ainv, *theta1, *theta2;
    size_t                size, off;
    llmopt_rng_t          rng;
    llmopt_bandit_conf_t  conf;

    llmopt_bandit_conf_defaults(&conf);
    conf.algorithm = LLMOPT_ALG_LINUCB;
    conf.n_arms = 2;
    conf.d = 6;

    block = block_for(&conf);
    llmopt_rng_seed(&rng, 11);

    for (i = 0; i < 500; i++) {
        for (j = 0; j < 6; j++) {
            x[j] = llmopt_rng_normal(&rng);
        }
        llmopt_bandit_update(&conf, block, 1, x, llmopt_rng_uniform(&rng));
    }

    /* arm 1's record: after the 32-byte head and arm 0's record */
    size = llmopt_bandit_size(&conf);
    off = 32 + (size - 32) / 2;
    a = (double *) ((char *) block + off) + 3;
    ainv = a + 36 + 6;

    err = 0;
    for (i = 0; i < 6; i++) {
        for (j = 0; j < 6; j++) {
            prod = 0;
            for (k = 0; k < 6; k++) {
                prod += a[i * 6 + k] * ainv[k * 6 + j];
            }
            err += fabs(prod - (i == j));
        }
    }
    ok(err < 1e-9, "linucb: A times A^-1 is I after 500 updates (%g)", err);

    /* rebuild from the additive fields reproduces the derived ones */
    copy = malloc(size);
    memcpy(copy, block, size);
    llmopt_bandit_rebuild(&conf, copy);
    theta1 = ainv + 36;
    theta2 = (double *) ((char *) copy + off) + 3 + 36 + 6 + 36;
    err = 0;
    for (i = 0; i < 6; i++) {
        err += fabs(theta1[i] - theta2[i]);
    }
    ok(err < 1e-9, "linucb: rebuild gives the same theta (%g)", err);

    free(copy);
    free(block);
}


/* two instances' statistics merge into those of one that saw both */

static void
test_merge(void)
{
    int                   i, j, n_bad;
    void                 *a, *b, *both;
    double                x[4], r;
    size_t                size;
    unsigned              arm;
    llmopt_rng_t          rng;
    llmopt_choice_t       ca, cb;
    llmopt_bandit_conf_t  conf;

    llmopt_bandit_conf_defaults(&conf);
    conf.algorithm = LLMOPT_ALG_LINUCB;
    conf.n_arms = 3;
    conf.d = 4;
    conf.lambda = 2.0;

    a = block_for(&conf);
    b = block_for(&conf);
    both = block_for(&conf);
    size = llmopt_bandit_size(&conf);
    llmopt_rng_seed(&rng, 21);

    for (i = 0; i < 400; i++) {
        for (j = 0; j < 4; j++) {
            x[j] = llmopt_rng_uniform(&rng);
        }
        arm = (unsigned) (llmopt_rng_next(&rng) % 3);
        r = llmopt_rng_uniform(&rng);
        llmopt_bandit_update(&conf, i % 2 ? a : b, arm, x, r);
        llmopt_bandit_update(&conf, both, arm, x, r);
    }

    llmopt_bandit_merge(&conf, a, b);

    n_bad = 0;
    for (i = 0; i < (int) (size / sizeof(double)); i++) {
        if (i < 4) {
            continue;                       /* the head */
        }
        if (fabs(((double *) a)[i] - ((double *) both)[i]) > 1e-7) {
            n_bad++;
        }
    }
    is_int(n_bad, 0, "merge: A + B equals one learner of both streams");
    is_int(llmopt_bandit_updates(a), 400, "merge: update counts add");

    for (j = 0; j < 4; j++) {
        x[j] = 0.5;
    }
    llmopt_rng_seed(&rng, 1);
    llmopt_bandit_select(&conf, a, x, NULL, &rng, &ca);
    llmopt_rng_seed(&rng, 1);
    llmopt_bandit_select(&conf, both, x, NULL, &rng, &cb);
    is_int(ca.arm, cb.arm, "merge: same choice as the single learner");

    free(a);
    free(b);
    free(both);
}


/* with forgetting, a reversal of the best arm is followed */

static void
test_forgetting(void)
{
    int                   i, late;
    void                 *block;
    double                x[1] = { 1 };
    llmopt_rng_t          rng;
    llmopt_choice_t       c;
    llmopt_bandit_conf_t  conf;

    llmopt_bandit_conf_defaults(&conf);
    conf.algorithm = LLMOPT_ALG_LINUCB;
    conf.n_arms = 2;
    conf.d = 1;
    conf.alpha = 0.2;
    conf.forgetting = 0.98;

    block = block_for(&conf);
    llmopt_rng_seed(&rng, 4);

    for (i = 0; i < 600; i++) {
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &c);
        llmopt_bandit_update(&conf, block, c.arm, x,
                             (c.arm == (i < 300 ? 0u : 1u)) ? 0.9 : 0.1);
    }

    late = 0;
    for (i = 0; i < 100; i++) {
        llmopt_bandit_select(&conf, block, x, NULL, &rng, &c);
        late += c.arm == 1;
    }

    ok(late >= 90, "forgetting: follows the new best arm (%d of 100)", late);

    free(block);
}


/*
 * A writer process rewrites a record of 64 equal words under the lock; a
 * reader process checks that every read it accepts has equal words.
 */

typedef struct {
    llmopt_seqlock_t  lock;
    uint64_t          words[64];
    uint64_t          torn;
    uint64_t          accepted;
    uint64_t          done;
} test_shared_t;


static void
test_seqlock(void)
{
    int              i, status;
    pid_t            writer;
    uint64_t         v, seq, first, finished, copy[64];
    test_shared_t   *sh;

    sh = mmap(NULL, sizeof(test_shared_t), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ok(sh != MAP_FAILED, "seqlock: shared mapping");
    if (sh == MAP_FAILED) {
        return;
    }
    memset(sh, 0, sizeof(test_shared_t));

    writer = fork();
    if (writer == 0) {
        for (v = 1; v <= 200000; v++) {
            llmopt_seqlock_write_begin(&sh->lock);
            for (i = 0; i < 64; i++) {
                sh->words[i] = v;
            }
            llmopt_seqlock_write_end(&sh->lock);
        }
        __atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
        _exit(0);
    }

    /* reads while the writer runs, and at least one after it is done */
    for ( ;; ) {
        finished = __atomic_load_n(&sh->done, __ATOMIC_ACQUIRE);
        seq = llmopt_seqlock_read_begin(&sh->lock);
        for (i = 0; i < 64; i++) {
            copy[i] = ((volatile uint64_t *) sh->words)[i];
        }
        if (llmopt_seqlock_read_retry(&sh->lock, seq)) {
            continue;
        }
        sh->accepted++;
        first = copy[0];
        for (i = 1; i < 64; i++) {
            if (copy[i] != first) {
                sh->torn++;
                break;
            }
        }
        if (finished) {
            break;
        }
    }

    waitpid(writer, &status, 0);
    is_int(WEXITSTATUS(status), 0, "seqlock: writer finished");
    ok(sh->accepted > 0, "seqlock: reader accepted reads (%llu)",
       (unsigned long long) sh->accepted);
    is_int(sh->torn, 0, "seqlock: no torn record accepted");
    is_int(sh->lock.seq, 400000, "seqlock: even after the last write");

    munmap(sh, sizeof(test_shared_t));
}


/*
 * Copyright (C) llmopt authors
 *
 * The sparse learner: features, SquareCB's probabilities, the carry, and
 * learning a problem that only the words of the prompt separate.
 */

#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "tap.h"
#include "llmopt_sparse.h"


static llmopt_sparse_features_t  f, g;


static void
feats(const llmopt_sparse_conf_t *conf, const char *prompt,
    const char *system, llmopt_sparse_features_t *out)
{
    double  x[1] = { 1 };

    llmopt_sparse_features(conf, (const unsigned char *) prompt,
                           prompt ? strlen(prompt) : 0,
                           (const unsigned char *) system,
                           system ? strlen(system) : 0, x, out);
}


static int
same_set(const llmopt_sparse_features_t *a, const llmopt_sparse_features_t *b)
{
    unsigned  i, j;

    if (a->n != b->n) {
        return 0;
    }

    for (i = 0; i < a->n; i++) {
        for (j = 0; j < b->n && b->bucket[j] != a->bucket[i]; j++) { }

        if (j == b->n) {
            return 0;
        }
    }

    return 1;
}


static void
test_conf(void)
{
    llmopt_err_t          err;
    llmopt_sparse_conf_t  conf;

    llmopt_sparse_conf_defaults(&conf);
    conf.n_arms = 2;
    conf.d = 1;

    is_int(llmopt_sparse_conf_check(&conf, &err), LLMOPT_OK, "defaults");
    is_int(llmopt_sparse_size(&conf), 64 + 8 * (1 << 18),
           "2 MiB and a header at the defaults");

    conf.bits = 9;
    is_int(llmopt_sparse_conf_check(&conf, &err), LLMOPT_ERROR, "bits 9");
    is_str(err.msg, "bits must be from 10 to 24", "bits message");
    conf.bits = 18;

    conf.ngrams = 3;
    is_int(llmopt_sparse_conf_check(&conf, &err), LLMOPT_ERROR, "ngrams 3");
    conf.ngrams = 2;

    conf.learning_rate = 0;
    is_int(llmopt_sparse_conf_check(&conf, &err), LLMOPT_ERROR, "rate 0");
    conf.learning_rate = 0.5;

    conf.exploration = -1;
    is_int(llmopt_sparse_conf_check(&conf, &err), LLMOPT_ERROR,
           "exploration -1");
    is_str(err.msg, "exploration must be in (0, 1000000]", "its message");
}


static void
test_features(void)
{
    char                 *big;
    size_t                i;
    llmopt_rng_t          rng;
    llmopt_sparse_conf_t  conf;

    llmopt_sparse_conf_defaults(&conf);
    conf.n_arms = 2;
    conf.d = 1;

    feats(&conf, "the cat", NULL, &f);
    is_int(f.n, 3, "two words and their pair");
    is_int(f.n_prompt, 3, "all of the prompt");
    is_num(f.value[0], 1 / sqrt(2.0) / sqrt(3.0), 1e-6,
           "prompt value: two namespaces, three features");

    feats(&conf, "the the the the", NULL, &f);
    is_int(f.n, 2, "repeats deduped: 'the' and 'the the'");

    feats(&conf, "The CAT", NULL, &g);
    feats(&conf, "the cat", NULL, &f);
    ok(same_set(&f, &g), "case folded");

    feats(&conf, "the\\ncat", NULL, &g);
    ok(same_set(&f, &g), "an escape separates words");

    feats(&conf, "the\\u00e9cat", NULL, &g);
    ok(same_set(&f, &g), "a \\u escape too");

    feats(&conf, "a-very-long-word-of-many-bytes", NULL, &f);
    is_int(f.n, 13, "7 words and 6 pairs");

    feats(&conf, "supercalifragilisticexpialidocious", NULL, &f);
    feats(&conf, "supercalifragilisticexpialidociousx", NULL, &g);
    ok(f.n == 1 && g.n == 1 && f.bucket[0] != g.bucket[0],
       "long words differ by their last byte");

    conf.ngrams = 1;
    feats(&conf, "the cat sat", NULL, &f);
    is_int(f.n, 3, "ngrams 1: words only");
    conf.ngrams = 2;

    feats(&conf, "cat", "cat", &f);
    is_int(f.n, 2, "the same word in both namespaces: two features");
    is_int(f.n_prompt, 1, "one of the prompt");
    ok(f.bucket[0] != f.bucket[1], "in different buckets");
    is_num(f.value[1], 1 / sqrt(3.0), 1e-6, "system value: 3 namespaces");

    feats(&conf, "", "", &f);
    is_int(f.n, 0, "no text");
    is_num(f.dense_norm, 1 / sqrt(2.0), 1e-6, "dense alone: (1, 1) / |.|");

    /* 100 KB: bounded by the windows and by the cap */

    big = malloc(100 * 1024 + 1);
    llmopt_rng_seed(&rng, 7);

    for (i = 0; i < 100 * 1024; i++) {
        big[i] = (i % 7 == 6) ? ' ' : 'a' + (char) llmopt_rng_below(&rng, 26);
    }

    big[100 * 1024] = '\0';

    feats(&conf, big, NULL, &f);
    ok(f.n <= LLMOPT_SPARSE_MAX_FEATURES && f.n > 500,
       "100 KB: %u features, bounded by the windows", f.n);

    feats(&conf, big + 100 * 1024 - 200, NULL, &g);
    ok(g.n > 10, "a tail alone has features");

    free(big);
}


static void
test_probabilities(void)
{
    void                  *table;
    double                 score[3], prob[3], sum, freq[3], x[1] = { 1 };
    unsigned               a, i;
    unsigned char          allowed[3] = { 1, 0, 1 };
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_sparse_conf_t   conf;
    llmopt_sparse_carry_t  carry;

    llmopt_sparse_conf_defaults(&conf);
    conf.n_arms = 3;
    conf.d = 1;
    conf.bits = 12;
    table = malloc(llmopt_sparse_size(&conf));
    llmopt_sparse_init(&conf, table);
    is_int(llmopt_sparse_check(&conf, table), LLMOPT_OK, "check");
    conf.bits = 13;
    is_int(llmopt_sparse_check(&conf, table), LLMOPT_DECLINED,
           "check: other bits");
    conf.bits = 12;

    score[0] = 0;
    score[1] = 0;
    score[2] = 0;
    llmopt_sparse_probabilities(&conf, table, score, NULL, prob);
    is_num(prob[0] + prob[1] + prob[2], 1, 1e-12, "sum 1");
    is_num(prob[1], 1 / 3.0, 1e-12, "ties: uniform");

    score[0] = 0.9;
    score[1] = 0.5;
    score[2] = 0.1;
    is_int(llmopt_sparse_probabilities(&conf, table, score, NULL, prob), 0,
           "best arm");
    is_num(prob[1], 1 / (3 + conf.exploration * 0.4), 1e-12,
           "SquareCB: 1/(K + gamma gap)");
    is_num(prob[2], 1 / (3 + conf.exploration * 0.8), 1e-12,
           "and the worse one");

    is_int(llmopt_sparse_probabilities(&conf, table, score, allowed, prob), 0,
           "best allowed");
    is_num(prob[1], 0, 0, "not allowed: 0");
    is_num(prob[0] + prob[2], 1, 1e-12, "allowed ones sum to 1");

    memset(allowed, 0, sizeof(allowed));
    llmopt_rng_seed(&rng, 1);
    feats(&conf, "hello world", NULL, &f);
    is_int(llmopt_sparse_select(&conf, table, &f, x, allowed, &rng, &choice,
                                &carry),
           LLMOPT_DECLINED, "nothing allowed");

    /* the logged propensity is the frequency of the choice */

    is_int(llmopt_sparse_select(&conf, table, &f, x, NULL, &rng, &choice,
                                &carry),
           LLMOPT_OK, "chosen");

    for (i = 0; i < 20; i++) {
        llmopt_sparse_update(&conf, table, NULL, 0, &carry, (float[]) { 1 },
                             1);
        llmopt_sparse_update(&conf, table, NULL, 1, &carry, (float[]) { 1 },
                             0.4);
    }

    freq[0] = freq[1] = freq[2] = 0;
    sum = 0;

    for (i = 0; i < 40000; i++) {
        llmopt_sparse_select(&conf, table, &f, x, NULL, &rng, &choice,
                             &carry);
        freq[choice.arm] += 1;

        if (i == 0) {
            llmopt_sparse_scores(&conf, table, &f, x, score);
            llmopt_sparse_probabilities(&conf, table, score, NULL, prob);
        }

        sum += choice.propensity == prob[choice.arm];
    }

    is_num(sum, 40000, 0, "propensity as computed, every time");

    for (a = 0; a < 3; a++) {
        ok(fabs(freq[a] / 40000 - prob[a])
           < 4 * sqrt(prob[a] * (1 - prob[a]) / 40000),
           "arm %u: frequency %.4f, propensity %.4f", a, freq[a] / 40000,
           prob[a]);
    }

    ok(prob[0] > prob[1] && prob[1] > prob[2],
       "learned order 0 > 1 > 2 (unlearned)");

    free(table);
}


static void
test_carry(void)
{
    char                   text[8192];
    void                  *table;
    size_t                 len;
    double                 x[1] = { 1 };
    unsigned               i, j, found;
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_sparse_conf_t   conf;
    llmopt_sparse_carry_t  carry;

    llmopt_sparse_conf_defaults(&conf);
    conf.n_arms = 2;
    conf.d = 1;
    table = malloc(llmopt_sparse_size(&conf));
    llmopt_sparse_init(&conf, table);
    llmopt_rng_seed(&rng, 2);

    len = 0;

    for (i = 0; i < 100; i++) {
        len += snprintf(text + len, sizeof(text) - len, "w%u ", i);
    }

    feats(&conf, text, "be brief", &f);
    is_int(f.n, 199 + 3, "100 words, 99 pairs, and the system's 3");

    llmopt_sparse_select(&conf, table, &f, x, NULL, &rng, &choice, &carry);
    is_int(carry.n, LLMOPT_SPARSE_CARRY, "carry capped");
    is_num(carry.scale, 202.0 / LLMOPT_SPARSE_CARRY, 1e-5, "scale n / K");

    found = 0;

    for (i = 0; i < carry.n; i++) {
        for (j = 0; j < f.n && f.bucket[j] != carry.bucket[i]; j++) { }

        found += j < f.n && ((i < carry.n_prompt) == (j < f.n_prompt));
    }

    is_int(found, carry.n, "carried features are the request's, in their "
           "namespace");

    feats(&conf, "short prompt", NULL, &f);
    llmopt_sparse_select(&conf, table, &f, x, NULL, &rng, &choice, &carry);
    is_int(carry.n, 3, "all carried");
    is_num(carry.scale, 1, 0, "scale 1");

    free(table);
}


/*
 * Two vocabularies, two arms: arm 0 pays 0.9 on the first and 0.2 on the
 * second, arm 1 the reverse.  Only the words tell them apart; the dense
 * feature is the same.  After a warm-up at least 90 % of each go to the
 * better arm.
 */

static void
test_learns(void)
{
    static const char  *voc[2][6] = {
        { "matrix", "integral", "derivative", "vector", "eigenvalue",
          "theorem" },
        { "poem", "sonnet", "rhyme", "verse", "stanza", "metaphor" }
    };

    char                   prompt[256];
    void                  *table;
    double                 x[1] = { 1 }, reward, score[2];
    unsigned               i, v, good[2], seen[2];
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_sparse_conf_t   conf;
    llmopt_sparse_carry_t  carry;

    llmopt_sparse_conf_defaults(&conf);
    conf.n_arms = 2;
    conf.d = 1;
    table = malloc(llmopt_sparse_size(&conf));
    llmopt_sparse_init(&conf, table);
    llmopt_rng_seed(&rng, 3);

    good[0] = good[1] = seen[0] = seen[1] = 0;

    for (i = 0; i < 3000; i++) {
        v = llmopt_rng_below(&rng, 2);

        snprintf(prompt, sizeof(prompt), "please help with the %s and the %s "
                 "of %s", voc[v][llmopt_rng_below(&rng, 6)],
                 voc[v][llmopt_rng_below(&rng, 6)],
                 voc[v][llmopt_rng_below(&rng, 6)]);

        feats(&conf, prompt, "you are helpful", &f);

        llmopt_sparse_select(&conf, table, &f, x, NULL, &rng, &choice,
                             &carry);

        reward = choice.arm == v ? 0.9 : 0.2;
        reward += 0.1 * (llmopt_rng_uniform(&rng) - 0.5);

        llmopt_sparse_update(&conf, table, NULL, choice.arm, &carry,
                             (float[]) { 1 }, reward);

        if (i >= 500) {
            seen[v]++;
            good[v] += choice.arm == v;
        }
    }

    ok(good[0] >= 0.9 * seen[0], "vocabulary 0: %u of %u to arm 0",
       good[0], seen[0]);
    ok(good[1] >= 0.9 * seen[1], "vocabulary 1: %u of %u to arm 1",
       good[1], seen[1]);
    is_int(llmopt_sparse_updates(table), 3000, "updates counted");

    memset(&carry, 0, sizeof(carry));
    llmopt_sparse_update(&conf, table, NULL, 0, &carry, (float[]) { 1 }, 1);
    is_int(llmopt_sparse_updates(table), 3000,
           "an empty carry (no features taken) teaches nothing");

    feats(&conf, "integral of a sonnet", NULL, &f);
    llmopt_sparse_scores(&conf, table, &f, x, score);
    llmopt_sparse_carry(&f, score[1], &rng, &carry);
    is_int(carry.n, 7, "a carry for an arm chosen otherwise: 4 words, "
           "3 pairs");
    is_num(carry.score, (float) score[1], 0, "with that arm's score");

    free(table);
}


/*
 * One writer, one reader, no lock, in two processes over shared memory:
 * while a child updates the table 20,000 times, the parent chooses; every
 * choice has a propensity in (0, 1] that is the probability of its scores
 * (they sum to 1), and every score stays within what the updates allow.
 */

static void
test_concurrent(void)
{
    void                  *table;
    pid_t                  pid;
    double                 x[1] = { 1 }, score[2], prob[2];
    unsigned               i, bad, seen;
    int                    status;
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_sparse_conf_t   conf;
    llmopt_sparse_carry_t  carry;

    llmopt_sparse_conf_defaults(&conf);
    conf.n_arms = 2;
    conf.d = 1;
    conf.bits = 12;

    table = mmap(NULL, llmopt_sparse_size(&conf), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ok(table != MAP_FAILED, "shared table");

    if (table == MAP_FAILED) {
        return;
    }

    llmopt_sparse_init(&conf, table);
    feats(&conf, "the same words every time", "and a system", &f);
    llmopt_rng_seed(&rng, 9);
    llmopt_sparse_select(&conf, table, &f, x, NULL, &rng, &choice, &carry);

    pid = fork();

    if (pid == 0) {
        for (i = 0; i < 20000; i++) {
            llmopt_sparse_update(&conf, table, NULL, i % 2, &carry,
                                 (float[]) { 1 }, (i % 2) ? 0.9 : 0.1);
        }

        _exit(0);
    }

    bad = 0;
    seen = 0;

    while (llmopt_sparse_updates(table) < 20000 && seen < 10000000) {
        llmopt_sparse_select(&conf, table, &f, x, NULL, &rng, &choice,
                             NULL);
        llmopt_sparse_scores(&conf, table, &f, x, score);
        llmopt_sparse_probabilities(&conf, table, score, NULL, prob);

        bad += !(choice.propensity > 0 && choice.propensity <= 1)
               || !(fabs(prob[0] + prob[1] - 1) < 1e-9)
               || !(fabs(score[0]) < 2 && fabs(score[1]) < 2);
        seen++;
    }

    waitpid(pid, &status, 0);

    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer ended");
    is_int(bad, 0, "%u choices during 20,000 updates: none out of bounds",
           seen);

    llmopt_sparse_scores(&conf, table, &f, x, score);
    ok(fabs(score[0] - 0.1) < 0.05 && fabs(score[1] - 0.9) < 0.05,
       "the writer's last model: %.3f, %.3f", score[0], score[1]);

    munmap(table, llmopt_sparse_size(&conf));
}


static void test_shared(void);


int
main(void)
{
    test_conf();
    test_features();
    test_probabilities();
    test_carry();
    test_learns();
    test_concurrent();
    test_shared();

    return tap_done();
}


/*
 * Two instances' tables shared as through Redis: each learns its own
 * requests into its served table and its own part; the served table made
 * of one's part plus the other's (llmopt_sparse_sum of merged parts)
 * scores what the other learned.
 */

static void
test_shared(void)
{
    void                  *ta, *la, *tb, *lb, *others;
    float                 *wa, *wl;
    double                 x[1] = { 1 }, score[2];
    size_t                 i, n, differ;
    unsigned               k;
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_sparse_conf_t   conf;
    llmopt_sparse_carry_t  carry;

    llmopt_sparse_conf_defaults(&conf);
    conf.bits = 12;
    conf.n_arms = 2;
    conf.d = 1;
    n = llmopt_sparse_size(&conf);

    ta = malloc(n);
    la = malloc(n);
    tb = malloc(n);
    lb = malloc(n);
    others = malloc(n);
    llmopt_sparse_init(&conf, ta);
    llmopt_sparse_init(&conf, la);
    llmopt_sparse_init(&conf, tb);
    llmopt_sparse_init(&conf, lb);
    llmopt_rng_seed(&rng, 5);

    /* A learns that arm 1 answers "poems" well, arm 0 badly */

    for (k = 0; k < 200; k++) {
        feats(&conf, "write me some poems about rhyme", NULL, &f);
        llmopt_sparse_select(&conf, ta, &f, x, NULL, &rng, &choice, &carry);
        llmopt_sparse_update(&conf, ta, la, choice.arm, &carry,
                             (float[]) { 1 }, choice.arm == 1 ? 1 : 0);
    }

    is_int(llmopt_sparse_updates(ta), 200, "shared: A's table learned");
    is_int(llmopt_sparse_updates(la), 200, "shared: and its own part");

    /* from a cold start the own part is the table, step by step */

    wa = (float *) ((char *) ta + 64);
    wl = (float *) ((char *) la + 64);
    differ = 0;

    for (i = 0; i < (n - 64) / sizeof(float); i++) {
        differ += wa[i] != wl[i];
    }

    is_int(differ, 0, "shared: A's part took every step of its table");

    /* B learned nothing; its served table = its part + A's */

    llmopt_sparse_init(&conf, others);
    llmopt_sparse_merge(&conf, others, la);
    is_int(llmopt_sparse_updates(others), 200, "merge: the updates add");
    llmopt_sparse_sum(&conf, tb, lb, others);
    is_int(llmopt_sparse_updates(tb), 200, "sum: B's table has A's updates");

    feats(&conf, "poems about rhyme please", NULL, &f);
    llmopt_sparse_scores(&conf, tb, &f, x, score);
    ok(score[1] > score[0] + 0.3,
       "sum: B scores the poems' arm higher from A's steps alone");

    /* B learns one answer: its part has that step alone, its table both */

    llmopt_sparse_select(&conf, tb, &f, x, NULL, &rng, &choice, &carry);
    llmopt_sparse_update(&conf, tb, lb, 0, &carry, (float[]) { 1 }, 0);
    is_int(llmopt_sparse_updates(lb), 1, "B's own part: its one update");
    is_int(llmopt_sparse_updates(tb), 201, "B's table: 201");

    /* the parts add */

    llmopt_sparse_merge(&conf, others, lb);
    is_int(llmopt_sparse_updates(others), 201, "merge: 200 + 1");

    llmopt_sparse_sum(&conf, tb, lb, NULL);
    is_int(llmopt_sparse_updates(tb), 1, "sum with no others: the part");

    free(ta);
    free(la);
    free(tb);
    free(lb);
    free(others);
}

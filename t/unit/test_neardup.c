/*
 * Copyright (C) llmopt authors
 *
 * Near-duplicate prompts over the corpus t/data/neardup/pairs.tsv
 * (paraphrases that should hit; minimal pairs that must not: negation,
 * numbers, entities, antonyms, topics): prints the false-hit rate and the
 * paraphrase hit rate of the guarded rule, asserts the false-hit rate is
 * at most 1 %, that each guard refuses its own kind, and that feedback
 * on half of the pairs lowers the learned acceptance's false hits on the
 * other half without losing more paraphrases than it stops false hits.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "llmopt_neardup.h"


#define TEST_CORPUS     "t/data/neardup/pairs.tsv"
#define TEST_MAX        512
#define TEST_THRESHOLD  0.9
#define TEST_PRIOR      0.6


typedef struct {
    char                   kind[16];
    unsigned               same;              /* paraphrase */
    char                   text[512];         /* for messages */
    llmopt_neardup_sig_t   a, b;
} test_pair_t;


static test_pair_t  pairs[TEST_MAX];
static unsigned     n_pairs;


static void test_load(void);
static void test_small(void);
static void test_rates(const llmopt_neardup_accept_t *acc, unsigned part,
    double *false_hits, double *hits, unsigned *n_false, unsigned *n_same);


int
main(void)
{
    unsigned                 i, epoch, guarded, kinds_ok, nf, ns;
    unsigned                 nf0, ns0, nf1, ns1;
    double                   fh, ph, fh0, ph0, fh1, ph1;
    llmopt_neardup_accept_t  acc;

    test_small();
    test_load();

    ok(n_pairs >= 200, "%u pairs in the corpus", n_pairs);

    /* the guarded rule: similarity >= threshold and no guard */

    llmopt_neardup_accept_init(&acc, TEST_THRESHOLD);
    test_rates(&acc, 2, &fh, &ph, &nf, &ns);

    printf("# guarded rule (similarity >= %.2f): false hits %.2f %% (%u of "
           "the minimal pairs), paraphrase hits %.1f %% (%u)\n",
           TEST_THRESHOLD, 100 * fh, nf, 100 * ph, ns);
    ok(fh <= 0.01, "false-hit rate %.2f %% <= 1 %%", 100 * fh);
    ok(ph >= 0.5, "paraphrase hit rate %.1f %% >= 50 %%", 100 * ph);

    /* each kind of minimal pair: its guard, or the similarity */

    kinds_ok = 1;
    guarded = 0;

    for (i = 0; i < n_pairs; i++) {
        unsigned  g = llmopt_neardup_guards(&pairs[i].a, &pairs[i].b);

        if (pairs[i].same) {
            if (g != 0) {
                printf("#   paraphrase guarded (%#x): %s\n", g,
                       pairs[i].text);
            }

            continue;
        }

        guarded += (g != 0);

        /* "impossible" is an antonym, "World War II" a number... */
        if (g == 0 && (strcmp(pairs[i].kind, "negation") == 0
                       || strcmp(pairs[i].kind, "number") == 0
                       || strcmp(pairs[i].kind, "entity") == 0
                       || strcmp(pairs[i].kind, "antonym") == 0))
        {
            printf("#   %s pair not caught by its guard (%#x): %s\n",
                   pairs[i].kind, g, pairs[i].text);
            kinds_ok = 0;
        }
    }

    ok(kinds_ok, "every negation, number, entity and antonym pair is "
       "refused by a guard");
    printf("# guards refuse %u of the minimal pairs\n", guarded);

    /*
     * The learned acceptance, from a looser prior (similarity >= 0.6, which
     * serves some minimal pairs): feedback on the near hits it serves of
     * the even pairs, measured on the odd ones.
     */

    llmopt_neardup_accept_init(&acc, TEST_PRIOR);
    test_rates(&acc, 1, &fh0, &ph0, &nf0, &ns0);

    for (epoch = 0; epoch < 20; epoch++) {
        for (i = 0; i < n_pairs; i++) {
            if ((i / 2) % 2 != 0) {
                continue;
            }

            if (llmopt_neardup_accept(&acc, &pairs[i].a, &pairs[i].b) >= 0.5)
            {
                /* served: its client says whether it was right */
                llmopt_neardup_feedback(&acc, &pairs[i].a, &pairs[i].b,
                                        pairs[i].same);
            }
        }
    }

    test_rates(&acc, 1, &fh1, &ph1, &nf1, &ns1);

    printf("# learned acceptance, %llu feedbacks on the even pairs; on the "
           "odd pairs: false hits %.2f %% -> %.2f %% (%u -> %u), "
           "paraphrase hits %.1f %% -> %.1f %% (%u -> %u)\n",
           (unsigned long long) acc.updates, 100 * fh0, 100 * fh1, nf0, nf1,
           100 * ph0, 100 * ph1, ns0, ns1);
    printf("# weights: bias %.3f, similarity %.3f, words differing %.3f, "
           "length ratio %.3f\n", acc.w[0], acc.w[1], acc.w[2], acc.w[3]);

    ok(acc.updates > 0, "feedback was given");
    ok(nf0 > 0, "the loose prior serves false hits (%u)", nf0);
    ok(nf1 < nf0, "feedback lowers false hits (%u -> %u)", nf0, nf1);

    return tap_done();
}


/*
 * The rates over the pairs of one part (0: even, 1: odd, 2: all): false
 * hits among the minimal pairs, hits among the paraphrases.
 */

static void
test_rates(const llmopt_neardup_accept_t *acc, unsigned part,
    double *false_hits, double *hits, unsigned *n_false, unsigned *n_same)
{
    unsigned  i, neg, pos;

    neg = pos = 0;
    *n_false = *n_same = 0;

    for (i = 0; i < n_pairs; i++) {
        /* the corpus alternates a paraphrase and a minimal pair */
        if (part != 2 && (i / 2) % 2 != part) {
            continue;
        }

        if (getenv("TEST_NEARDUP_SHOW") != NULL && part == 2
            && llmopt_neardup_guards(&pairs[i].a, &pairs[i].b) == 0)
        {
            printf("#   %.3f %s %s\n",
                   llmopt_neardup_similarity(&pairs[i].a, &pairs[i].b),
                   pairs[i].kind, pairs[i].text);
        }

        if (llmopt_neardup_accept(acc, &pairs[i].a, &pairs[i].b) >= 0.5) {
            if (pairs[i].same) {
                (*n_same)++;

            } else {
                (*n_false)++;
            }
        }

        pos += pairs[i].same;
        neg += !pairs[i].same;
    }

    *false_hits = neg ? (double) *n_false / neg : 0;
    *hits = pos ? (double) *n_same / pos : 0;
}


static void
test_load(void)
{
    FILE   *f;
    char    line[4096], *a, *b, *nl;

    f = fopen(TEST_CORPUS, "r");

    if (!ok(f != NULL, "read " TEST_CORPUS)) {
        return;
    }

    while (fgets(line, sizeof(line), f) != NULL && n_pairs < TEST_MAX) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }

        nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }

        a = strchr(line, '\t');
        b = a != NULL ? strchr(a + 1, '\t') : NULL;

        if (b == NULL || a - line >= 16) {
            ok(0, "a malformed line: %s", line);
            continue;
        }

        *a++ = '\0';
        *b++ = '\0';

        strcpy(pairs[n_pairs].kind, line);
        snprintf(pairs[n_pairs].text, sizeof(pairs[n_pairs].text),
                 "%s | %s", a, b);
        pairs[n_pairs].same = strcmp(line, "paraphrase") == 0;
        llmopt_neardup_sign(a, strlen(a), &pairs[n_pairs].a);
        llmopt_neardup_sign(b, strlen(b), &pairs[n_pairs].b);
        n_pairs++;
    }

    fclose(f);
}


/* The signature's pieces on a few prompts of our own. */

static void
test_small(void)
{
    llmopt_neardup_sig_t  a, b;

    static const char  *x = "How do I reverse a list in Python?";
    static const char  *y = "how can I reverse a list in Python";

    llmopt_neardup_sign(x, strlen(x), &a);
    llmopt_neardup_sign(y, strlen(y), &b);
    is_num(llmopt_neardup_similarity(&a, &b), 1, 0,
           "fillers, case and punctuation do not matter");
    is_int(llmopt_neardup_guards(&a, &b), 0, "no guard");
    is_int(a.n_entities, 1, "Python is entity-like");

    llmopt_neardup_sign("Don't stop", 10, &a);
    llmopt_neardup_sign("Do stop", 7, &b);
    is_int(a.negations, 1, "n't is a negation");
    ok(llmopt_neardup_guards(&a, &b) & LLMOPT_NEARDUP_GUARD_NEGATION,
       "negation guard");

    llmopt_neardup_sign("name three cities", 17, &a);
    llmopt_neardup_sign("name 3 cities", 13, &b);
    is_int(llmopt_neardup_guards(&a, &b), 0, "three is 3");
    is_num(llmopt_neardup_similarity(&a, &b), 1, 0, "three is 3: same");

    llmopt_neardup_sign("it is possible", 14, &a);
    llmopt_neardup_sign("it is impossible", 16, &b);
    ok(llmopt_neardup_guards(&a, &b) & LLMOPT_NEARDUP_GUARD_ANTONYM,
       "a negative prefix");

    llmopt_neardup_sign("", 0, &a);
    llmopt_neardup_sign("the a an", 8, &b);
    is_num(llmopt_neardup_similarity(&a, &b), 1, 0,
           "nothing to compare: the same");
}

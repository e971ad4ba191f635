/*
 * Copyright (C) llmopt authors
 *
 * The near-duplicate index: its size, lookups through the MinHash bands
 * (a paraphrase finds its entry, a minimal pair does not), the LRU order
 * that a lookup refreshes and a full index evicts from, and the corpus
 * t/data/neardup/pairs.tsv through an index of all its first prompts:
 * the index finds what the pairwise rule accepts, and no other entry.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "llmopt_neardup_index.h"


#define TEST_CORPUS  "t/data/neardup/pairs.tsv"


static void test_small(void);
static void test_corpus(void);
static void test_sign(const char *s, llmopt_neardup_sig_t *sig);


int
main(void)
{
    test_small();
    test_corpus();

    return tap_done();
}


static void
test_sign(const char *s, llmopt_neardup_sig_t *sig)
{
    llmopt_neardup_sign(s, strlen(s), sig);
}


static void
test_small(void)
{
    void                    *mem;
    size_t                   size;
    uint32_t                 i, got[8];
    llmopt_neardup_sig_t     sig;
    llmopt_neardup_index_t  *idx;
    llmopt_neardup_accept_t  acc;

    static const char  *prompts[8] = {
        "How do I reverse a list in Python?",
        "What is the capital of France?",
        "Write a haiku about the ocean.",
        "How do I enable two-factor authentication on my account?",
        "Convert 100 degrees Fahrenheit to Celsius.",
        "Explain the difference between TCP and UDP.",
        "Give me a recipe for vegan chocolate cake.",
        "How do I center a div with CSS?"
    };

    llmopt_neardup_accept_init(&acc, 0.9);

    size = llmopt_neardup_index_size(8, 64);
    mem = malloc(size);

    ok(llmopt_neardup_index_init(mem, size - 1, 8, 64) == NULL,
       "one byte short: refused");
    ok(llmopt_neardup_index_init(mem, size, 0, 64) == NULL,
       "no capacity: refused");

    idx = llmopt_neardup_index_init(mem, size, 8, 50);
    ok(idx != NULL, "an index of 8 entries");
    is_int(idx->buckets, 64, "buckets rounded up to a power of 2");
    ok((char *) llmopt_neardup_index_entry(idx, 7)
       + sizeof(llmopt_neardup_entry_t) <= (char *) mem + size,
       "the last entry inside the block");

    for (i = 0; i < 8; i++) {
        test_sign(prompts[i], &sig);
        got[i] = llmopt_neardup_index_insert(idx, &sig, &i, sizeof(i));
    }

    is_int(idx->count, 8, "8 entries");

    test_sign("how can I enable two-factor authentication on my account",
              &sig);
    i = llmopt_neardup_index_lookup(idx, &sig, &acc, NULL);
    ok(i == got[3], "a paraphrase finds its entry");
    ok(i != LLMOPT_NEARDUP_NONE
       && *(uint32_t *) llmopt_neardup_index_entry(idx, i)->value == 3,
       "... and its value");

    test_sign("How do I disable two-factor authentication on my account?",
              &sig);
    is_int(llmopt_neardup_index_lookup(idx, &sig, &acc, NULL),
           LLMOPT_NEARDUP_NONE, "an antonym does not");

    test_sign("What is the capital of Germany?", &sig);
    is_int(llmopt_neardup_index_lookup(idx, &sig, &acc, NULL),
           LLMOPT_NEARDUP_NONE, "another entity does not");

    /* full: the least recent (0, as 3 was looked up) goes */

    test_sign("Why is the sky blue?", &sig);
    i = 8;
    llmopt_neardup_index_insert(idx, &sig, &i, sizeof(i));
    is_int(idx->count, 8, "still 8 entries");
    is_int(idx->evictions, 1, "one evicted");

    test_sign(prompts[0], &sig);
    is_int(llmopt_neardup_index_lookup(idx, &sig, &acc, NULL),
           LLMOPT_NEARDUP_NONE, "the least recent went");

    test_sign(prompts[3], &sig);
    ok(llmopt_neardup_index_lookup(idx, &sig, &acc, NULL) == got[3],
       "the one looked up stayed");

    test_sign("why is the sky blue", &sig);
    ok(llmopt_neardup_index_lookup(idx, &sig, &acc, NULL) == got[0],
       "the new one in the old one's place");

    /* many more than it holds: bounded, the chains consistent */

    for (i = 0; i < 1000; i++) {
        char  text[64];

        snprintf(text, sizeof(text), "question number %u about topic %u",
                 i, i * 7);
        test_sign(text, &sig);
        llmopt_neardup_index_insert(idx, &sig, &i, sizeof(i));
    }

    is_int(idx->count, 8, "bounded: 8 entries after 1000 inserts");

    {
        char  text[64];

        snprintf(text, sizeof(text), "question number %u about topic %u",
                 999, 999 * 7);
        test_sign(text, &sig);
        i = llmopt_neardup_index_lookup(idx, &sig, &acc, NULL);
        ok(i != LLMOPT_NEARDUP_NONE
           && *(uint32_t *) llmopt_neardup_index_entry(idx, i)->value == 999,
           "the latest is found");

        snprintf(text, sizeof(text), "question number %u about topic %u",
                 990, 990 * 7);
        test_sign(text, &sig);
        is_int(llmopt_neardup_index_lookup(idx, &sig, &acc, NULL),
               LLMOPT_NEARDUP_NONE, "the tenth latest went");
    }

    free(mem);
}


static void
test_corpus(void)
{
    FILE                    *f;
    char                     line[4096], *a, *b, *nl;
    void                    *mem;
    size_t                   size;
    uint32_t                 n, i, e, right, wrong, missed;
    unsigned                 same[512];
    llmopt_neardup_sig_t     sa[512], sb[512];
    llmopt_neardup_index_t  *idx;
    llmopt_neardup_accept_t  acc;

    f = fopen(TEST_CORPUS, "r");

    if (!ok(f != NULL, "read " TEST_CORPUS)) {
        return;
    }

    n = 0;

    while (fgets(line, sizeof(line), f) != NULL && n < 512) {
        if (line[0] == '#') {
            continue;
        }

        nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }

        a = strchr(line, '\t');
        b = a != NULL ? strchr(a + 1, '\t') : NULL;

        if (b == NULL) {
            continue;
        }

        *a++ = '\0';
        *b++ = '\0';

        same[n] = strcmp(line, "paraphrase") == 0;
        test_sign(a, &sa[n]);
        test_sign(b, &sb[n]);
        n++;
    }

    fclose(f);

    llmopt_neardup_accept_init(&acc, 0.9);

    size = llmopt_neardup_index_size(n, 1024);
    mem = malloc(size);
    idx = llmopt_neardup_index_init(mem, size, n, 1024);

    for (i = 0; i < n; i++) {
        llmopt_neardup_index_insert(idx, &sa[i], &i, sizeof(i));
    }

    right = wrong = missed = 0;

    for (i = 0; i < n; i++) {
        e = llmopt_neardup_index_lookup(idx, &sb[i], &acc, NULL);

        if (e == LLMOPT_NEARDUP_NONE) {
            missed += (same[i]
                       && llmopt_neardup_accept(&acc, &sb[i], &sa[i]) >= 0.5);
            continue;
        }

        if (same[i]
            && *(uint32_t *) llmopt_neardup_index_entry(idx, e)->value == i)
        {
            right++;

        } else {
            wrong++;
        }
    }

    printf("# index of %u first prompts: %u paraphrases found, %u wrong "
           "entries, %u the pairwise rule accepts but the bands missed; "
           "%llu candidates judged for %u lookups\n", n, right, wrong,
           missed, (unsigned long long) idx->compared, n);

    ok(wrong == 0, "no lookup found another prompt's entry (%u)", wrong);
    ok(missed <= 2, "the bands miss at most 2 the rule accepts (%u)",
       missed);
    ok(right >= 85, "%u of the paraphrases found", right);
    ok(idx->compared < (uint64_t) n * n / 10,
       "the bands spare most comparisons (%llu of %u)",
       (unsigned long long) idx->compared, n * n);

    free(mem);
}

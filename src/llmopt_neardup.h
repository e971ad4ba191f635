/*
 * Copyright (C) llmopt authors
 *
 * Near-duplicate prompts (llmopt_neardup.c), lexical and honest about it:
 * a MinHash signature of a prompt's normalised word shingles, guards that
 * refuse two prompts that differ in a negation, a number, an entity-like
 * token or a pair of antonyms (or are too long to tell), and a learned acceptance (a logistic over
 * the similarity and the words that differ) that feedback trains.  No
 * index and no glue yet: the near-duplicate cache is not served.
 */

#ifndef _LLMOPT_NEARDUP_H_INCLUDED_
#define _LLMOPT_NEARDUP_H_INCLUDED_


#include "llmopt_core.h"


#define LLMOPT_NEARDUP_K          64     /* min-hashes a signature */
#define LLMOPT_NEARDUP_WORDS      64     /* words kept for the guards */
#define LLMOPT_NEARDUP_MARKS      16     /* numbers, entities, ... kept */
#define LLMOPT_NEARDUP_FEATURES   4      /* of the acceptance */


/*
 * A prompt's signature: fixed size, no pointers, so that it may live in
 * shared memory.  Hashes are llmopt_hash64()'s.
 */

typedef struct {
    uint32_t   minhash[LLMOPT_NEARDUP_K];
    uint64_t   words[LLMOPT_NEARDUP_WORDS];     /* content words, sorted,
                                                   unique */
    uint64_t   numbers[LLMOPT_NEARDUP_MARKS];   /* sorted, repeats kept */
    uint64_t   entities[LLMOPT_NEARDUP_MARKS];  /* entity-like words */
    uint64_t   stems[LLMOPT_NEARDUP_MARKS];     /* what a negative prefix
                                                   (un-, in-, dis-, ...)
                                                   was put before */
    uint16_t   antonyms[LLMOPT_NEARDUP_MARKS];  /* pair * 2 + side */
    uint16_t   n_words, n_numbers, n_entities, n_stems, n_antonyms;
    uint16_t   negations;                       /* not, no, never, n't */
    uint16_t   shingles;                        /* 0: no content words */
    uint16_t   truncated;                       /* more words than kept */
} llmopt_neardup_sig_t;


/* Why two prompts may not share an answer (LLMOPT_NEARDUP_GUARD_*). */

#define LLMOPT_NEARDUP_GUARD_NEGATION  0x01
#define LLMOPT_NEARDUP_GUARD_NUMBER    0x02
#define LLMOPT_NEARDUP_GUARD_ENTITY    0x04
#define LLMOPT_NEARDUP_GUARD_ANTONYM   0x08
#define LLMOPT_NEARDUP_GUARD_LONG      0x10   /* more content words than a
                                                 signature keeps: what
                                                 differs cannot be seen */


/* The learned acceptance: weights of a logistic over the features. */

typedef struct {
    double     w[LLMOPT_NEARDUP_FEATURES];
    double     learning_rate;
    uint64_t   updates;
} llmopt_neardup_accept_t;


/*
 * The signature of text[0 .. len - 1] (UTF-8; bytes above 0x7f are parts
 * of words): words lower-cased, split at anything but letters, digits
 * and inner apostrophes and dots; number words made digits; fillers
 * ("please", "could you", articles) left out of the shingles (words and
 * pairs of neighbours).  Never allocates.
 */
void llmopt_neardup_sign(const char *text, size_t len,
    llmopt_neardup_sig_t *sig);

/* The estimated Jaccard similarity of the two shingle sets, in [0, 1]. */
double llmopt_neardup_similarity(const llmopt_neardup_sig_t *a,
    const llmopt_neardup_sig_t *b);

/* The guards that refuse the pair: LLMOPT_NEARDUP_GUARD_* bits, 0: none. */
unsigned llmopt_neardup_guards(const llmopt_neardup_sig_t *a,
    const llmopt_neardup_sig_t *b);

/*
 * The acceptance's prior: a hit when the similarity is at least
 * threshold, whatever else differs.
 */
void llmopt_neardup_accept_init(llmopt_neardup_accept_t *acc,
    double threshold);

/*
 * The probability that b's answer serves a: 0 when a guard refuses, else
 * the logistic of the similarity and the share of content words that
 * differ.
 */
double llmopt_neardup_accept(const llmopt_neardup_accept_t *acc,
    const llmopt_neardup_sig_t *a, const llmopt_neardup_sig_t *b);

/*
 * Feedback on a near hit served for a from b's answer: good (1) or not
 * (0); one step of the logistic's gradient.  A guarded pair teaches
 * nothing (it is never served).
 */
void llmopt_neardup_feedback(llmopt_neardup_accept_t *acc,
    const llmopt_neardup_sig_t *a, const llmopt_neardup_sig_t *b,
    unsigned good);


#endif /* _LLMOPT_NEARDUP_H_INCLUDED_ */

/*
 * Copyright (C) llmopt authors
 *
 * A prompt variant: how a policy may ask a model besides which model it
 * asks -- the system prompt prepended to or replaced, an instruction
 * appended to the last user turn, few-shot examples put before the
 * conversation, structured output asked for.  Catalog data, checked and
 * JSON-escaped once at load (llmopt_catalog_variants.c); the rewriter
 * (llmopt_rewrite.h) splices the pre-escaped pieces into a request.
 */

#ifndef _LLMOPT_VARIANT_H_INCLUDED_
#define _LLMOPT_VARIANT_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_rng.h"
#include "llmopt_stats.h"


#define LLMOPT_MAX_VARIANTS        8      /* of a policy, the control too */
#define LLMOPT_VARIANT_TEXT_MAX    8192   /* bytes of one text, as written */
#define LLMOPT_VARIANT_MAX_SHOTS   8      /* user/assistant example pairs */

/* llmopt_variant_t.dialects: 1 << llmopt_dialect_e it can be written in */
#define LLMOPT_VARIANT_DIALECTS    3


/*
 * Every text is stored JSON-escaped, ready to be copied into a body: the
 * "_str" members are quoted JSON strings, "_block" a text content block
 * {"type":"text","text":...}, system_msg an OpenAI system message.  A
 * length 0 means the edit is not made.
 */

typedef struct {
    llmopt_str_t           name;
    unsigned               index;            /* in the policy's variants */
    unsigned               control:1;        /* the one others are tested
                                                against: the first */
    unsigned               system_replace:1; /* else prepended */

    llmopt_str_t           system_str;       /* "text" */
    llmopt_str_t           system_block;
    llmopt_str_t           system_msg;       /* {"role":"system",...} */
    llmopt_str_t           append_str;       /* "text" for the last user
                                                turn */
    llmopt_str_t           append_block;
    llmopt_str_t           examples;         /* message objects, comma-
                                                separated, no brackets */
    llmopt_str_t           response_format;  /* raw JSON (OpenAI only) */

    unsigned               dialects;         /* where it can be written */

    unsigned               line;
    unsigned               column;
} llmopt_variant_t;


/*
 * The variant learner, conditioned on the model: for each (arm, variant)
 * of a policy a tally of the rewards learned, rows of LLMOPT_MAX_VARIANTS
 * per arm.  The trainer alone adds to it (llmopt_variant_learn()); the
 * decisions read it without a lock: a torn read of a row only blurs one
 * draw.  Every member is additive.
 */

#define LLMOPT_VARIANT_TALLY(arms)  ((arms) * LLMOPT_MAX_VARIANTS)
#define LLMOPT_VARIANT_FLOOR        0.1   /* share of uniform choices */

/*
 * aipw and aipw_sq of variant v > 0 are the sums over all the arm's
 * answers of the augmented inverse propensity estimate of v's mean
 * reward minus the control's, and of its squares (llmopt_variant_ab()).
 */

typedef struct {
    llmopt_sample_t        reward;           /* count, sum, squares */
    double                 aipw;
    double                 aipw_sq;
} llmopt_variant_tally_t;


/*
 * The choice among the n variants of one arm (row: their tallies) that can
 * be written in dialect (bit 1 << dialect of each variant's dialects):
 * with probability LLMOPT_VARIANT_FLOOR one of them uniformly, else
 * Thompson sampling -- each variant's mean reward has a normal posterior,
 * mean m = (sum + 1) / (count + 2) and variance m (1 - m) / (count + 3)
 * (a Beta(1, 1) prior's moments), the highest draw wins.  *propensity is
 * the exact probability of the choice: the floor's part plus the
 * Thompson part, in closed form for two variants, by a quadrature of 64
 * points otherwise (error below 1e-6).  Draws 1 uniform (2 on the floor)
 * and n normals from rng.  LLMOPT_OK; LLMOPT_DECLINED when no variant can
 * be written in the dialect (n == 0 too).  Never allocates.
 */
int llmopt_variant_select(const llmopt_variant_t *variants, unsigned n,
    const llmopt_variant_tally_t *row, unsigned dialect, llmopt_rng_t *rng,
    unsigned *variant, double *propensity);

/*
 * Adds an answer of variant v to row, the tallies of the n variants of
 * its arm: its reward (clamped to [0, 1], NaN as 0) into v's sample, and
 * with the propensity v was chosen with (0 or less: unknown, the sample
 * alone) the answer's term of every variant's estimate against the
 * control: (m_u - m_0) + [v = u] (r - m_u) / p - [v = 0] (r - m_0) / p,
 * m the posterior means before this answer -- a martingale difference
 * when u and the control have the same mean, however the choices adapt.
 * The trainer's.
 */
void llmopt_variant_learn(llmopt_variant_tally_t *row, unsigned n,
    unsigned v, double reward, double propensity);


/*
 * The A/B report of a variant against the control over the answers of
 * the arms whose tallies are given (n_rows rows of LLMOPT_MAX_VARIANTS),
 * valid under the learner's adaptive choices: the difference of the mean
 * rewards is the mean of the answers' augmented inverse propensity terms
 * (llmopt_variant_learn()), and its always-valid p-value the normal
 * mixture SPRT's on that estimate (llmopt_msprt(), mixing variance
 * LLMOPT_VARIANT_TAU2) with twice the terms' squares as its variance
 * (their sum and its predictable part, the self-normalised bound).  The difference
 * of the plain means is reported beside it (biased by the adaptive
 * choices).  O(n_rows), no allocation.
 */

#define LLMOPT_VARIANT_TAU2   0.01

typedef struct {
    double                 n;                /* answers of the variant */
    double                 diff;             /* AIPW: variant - control */
    double                 mean_diff;        /* of the plain means */
    double                 p_always;         /* always-valid p-value */
} llmopt_variant_ab_t;

void llmopt_variant_ab(const llmopt_variant_tally_t *rows, unsigned n_rows,
    unsigned variant, llmopt_variant_ab_t *out);


#endif /* _LLMOPT_VARIANT_H_INCLUDED_ */

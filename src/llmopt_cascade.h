/*
 * Copyright (C) llmopt authors
 *
 * Cascades (issue 18): the signals of a tier's answer, the acceptance
 * model that learns online whether such an answer is good enough, and the
 * accept/escalate decision over the policy's reward weights.  Pure: the
 * caller hands in the answer, the state (plain memory it owns, shared
 * memory in nginx), the clock's readings and the RNG.  docs/CASCADE.md is
 * the contract.
 */

#ifndef _LLMOPT_CASCADE_H_INCLUDED_
#define _LLMOPT_CASCADE_H_INCLUDED_


#include <stdint.h>
#include <regex.h>

#include "llmopt_core.h"
#include "llmopt_catalog.h"
#include "llmopt_rng.h"
#include "llmopt_json.h"
#include "llmopt_cascade_types.h"

/* bytes of an answer looked at; the rest only counts in its length */
#define LLMOPT_CASCADE_SCAN_MAX      4096     /* refusal and hedge markers */
#define LLMOPT_CASCADE_EXTRACT_MAX   8192     /* extractor, agreement, the
                                                format asked (on the
                                                stack once) */

/* request features appended to the signals (the policy's first ones) */
#define LLMOPT_CASCADE_REQ_DIM       16


/* The signals, in the order of the model's input x. */

typedef enum {
    LLMOPT_CASCADE_SIG_BIAS = 0,       /* always 1 */
    LLMOPT_CASCADE_SIG_LENGTH,         /* log2(1 + tokens) / 16, tokens
                                          estimated from bytes if unknown */
    LLMOPT_CASCADE_SIG_EMPTY,          /* 0/1: no text at all */
    LLMOPT_CASCADE_SIG_COMPLETE,       /* 0/1: stop or tool call */
    LLMOPT_CASCADE_SIG_TRUNCATED,      /* 0/1: cut by the length limit */
    LLMOPT_CASCADE_SIG_FILTERED,       /* 0/1: content filter, refusal */
    LLMOPT_CASCADE_SIG_REFUSAL,        /* 0/1: a refusal marker */
    LLMOPT_CASCADE_SIG_HEDGE,          /* hedge markers, min(n, 4) / 4 */
    LLMOPT_CASCADE_SIG_LOGPROB_NONE,   /* 0/1: no log-probabilities */
    LLMOPT_CASCADE_SIG_LOGPROB_MEAN,   /* exp(mean logprob), 0 when none */
    LLMOPT_CASCADE_SIG_LOGPROB_MIN,    /* exp(min logprob), 0 when none */
    LLMOPT_CASCADE_SIG_AGREE_NONE,     /* 0/1: no second answer */
    LLMOPT_CASCADE_SIG_AGREE,          /* 0/1: the two answers agree */
    LLMOPT_CASCADE_SIG_FORMAT_ASKED,   /* 0/1: the prompt asks a format */
    LLMOPT_CASCADE_SIG_FORMAT_MATCH,   /* 0/1: the answer has it */
    LLMOPT_CASCADE_SIG_REQUEST,        /* LLMOPT_CASCADE_REQ_DIM dims: the
                                          request's dense features */
    LLMOPT_CASCADE_SIG_LAST = LLMOPT_CASCADE_SIG_REQUEST
} llmopt_cascade_signal_e;

#define LLMOPT_CASCADE_DIM  (LLMOPT_CASCADE_SIG_LAST + LLMOPT_CASCADE_REQ_DIM)


/* The format a prompt asks of its answer. */

typedef enum {
    LLMOPT_CASCADE_FORMAT_NONE = 0,
    LLMOPT_CASCADE_FORMAT_LETTER,      /* a multiple-choice letter, A-J */
    LLMOPT_CASCADE_FORMAT_NUMBER       /* a number */
} llmopt_cascade_format_e;


/*
 * What two answers are compared by: their normalised text (case folded,
 * punctuation dropped, runs of white space one space, trimmed), or, with
 * a regex, the normalised text of its capture group (group 1, else the
 * whole match).  An answer the regex does not match agrees with nothing.
 */

typedef struct {
    unsigned          has_regex;
    regex_t           regex;              /* REG_EXTENDED */
} llmopt_cascade_extractor_t;


/* One tier's answer, as the glue or the replay read it. */

typedef struct {
    const char       *text;               /* the answer's text */
    size_t            len;
    unsigned          finish;             /* llmopt_finish_e */
    uint32_t          tokens;             /* output tokens, 0: unknown */
    unsigned          has_logprobs;
    double            logprob_mean;       /* natural log, <= 0 */
    double            logprob_min;
    const char       *other;              /* the pair's second answer, */
    size_t            other_len;          /*   NULL: none */
    unsigned          format;             /* llmopt_cascade_format_e asked */
    const double     *request;            /* the request's dense features */
    unsigned          request_d;          /*   (the first
                                             LLMOPT_CASCADE_REQ_DIM used) */
} llmopt_cascade_answer_t;


/*
 * The acceptance model of one tier: a logistic model over the signals,
 * w and the squared gradients' sums of its AdaGrad steps, and the counts
 * the forced share decays with.  All zero is the cold start (p = 0.5).
 * sizeof is 2 * 8 * LLMOPT_CASCADE_DIM + 16 = 512 bytes; it holds no
 * pointer, so it may live in shared memory (the caller serialises
 * writers).
 */

typedef struct {
    double            w[LLMOPT_CASCADE_DIM];
    double            g2[LLMOPT_CASCADE_DIM];
    uint64_t          updates;            /* labels learned */
    uint64_t          decisions;          /* accept/escalate decided */
} llmopt_cascade_model_t;


/* What the caller knows of a tier it could escalate to. */

typedef struct {
    double            quality;            /* its expected quality, [0, 1] */
    double            cost;               /* its expected cost, USD */
    double            latency_ms;         /* its expected latency */
    unsigned          skip;               /* breaker open, budget refused */
} llmopt_cascade_tier_t;


/* The decision's inputs beyond the model and the answer's signals. */

typedef struct {
    unsigned                      tier;      /* the one that answered */
    unsigned                      n_tiers;
    const llmopt_cascade_tier_t  *tiers;     /* n_tiers entries */
    unsigned                      tried;     /* tiers tried so far, >= 1 */
    double                        spent;     /* USD spent on all tries */
    double                        elapsed_ms;
    unsigned                      streamed;  /* a first byte reached the
                                                client */
} llmopt_cascade_input_t;


/* why (llmopt_cascade_decision_t.why) */
typedef enum {
    LLMOPT_CASCADE_WHY_ACCEPT = 0,      /* accepting is worth more */
    LLMOPT_CASCADE_WHY_ESCALATE,        /* escalating is worth more */
    LLMOPT_CASCADE_WHY_FORCED,          /* a forced escalation */
    LLMOPT_CASCADE_WHY_LAST_TIER,       /* no tier after this one */
    LLMOPT_CASCADE_WHY_MAX_TIERS,       /* max_tiers tried */
    LLMOPT_CASCADE_WHY_TIME,            /* time budget spent, or the next
                                           tier would overrun it */
    LLMOPT_CASCADE_WHY_STREAMED,        /* the client has a first byte */
    LLMOPT_CASCADE_WHY_SKIPPED          /* every later tier is skipped */
} llmopt_cascade_why_e;


typedef struct {
    unsigned          escalate;           /* 0: accept the answer */
    unsigned          next;               /* the tier to escalate to */
    double            propensity;         /* of the decision taken, (0, 1] */
    double            p_good;             /* the model's acceptance */
    double            threshold;          /* p_good below which the rule
                                             escalates; -1 with no
                                             candidate */
    double            reward_accept;      /* expected, [0, 1] */
    double            reward_escalate;    /* expected, -1 with no candidate */
    double            forced_share;       /* in force for this decision */
    llmopt_cascade_why_e  why;
} llmopt_cascade_decision_t;


/* "cascade_length" ...: the catalog's name of signal dimension i; NULL
 * past LLMOPT_CASCADE_DIM. */
const char *llmopt_cascade_signal_name(unsigned i);

/* "accept", "escalate", ...: the name of a why. */
const char *llmopt_cascade_why_name(llmopt_cascade_why_e why);


/*
 * Compiles pattern (POSIX extended, NUL-terminated) into ex; NULL or ""
 * makes a normalised-text extractor.  Configuration time: regcomp()
 * allocates; llmopt_cascade_extractor_free() releases it.  Returns
 * LLMOPT_OK, or LLMOPT_ERROR with err set.
 */
int llmopt_cascade_extractor_init(llmopt_cascade_extractor_t *ex,
    const char *pattern, llmopt_err_t *err);
void llmopt_cascade_extractor_free(llmopt_cascade_extractor_t *ex);

/*
 * The extracted answer of text[0..len) (its first
 * LLMOPT_CASCADE_EXTRACT_MAX bytes): sets *out to the span compared
 * (normalised later by llmopt_cascade_agree()).  Returns LLMOPT_OK, or
 * LLMOPT_DECLINED when the regex does not match.
 */
int llmopt_cascade_extract(const llmopt_cascade_extractor_t *ex,
    const char *text, size_t len, llmopt_str_t *out);

/*
 * 1 when a and b extract to the same normalised text, 0 when not or when
 * either does not extract.  Bounded: LLMOPT_CASCADE_EXTRACT_MAX bytes of
 * each, no allocation.
 */
int llmopt_cascade_agree(const llmopt_cascade_extractor_t *ex,
    const char *a, size_t alen, const char *b, size_t blen);

/*
 * The format prompt[0..len) asks (its first LLMOPT_CASCADE_EXTRACT_MAX
 * bytes): LETTER when it lists at least two lettered options ("A)",
 * "(B)", "C." at a line's start) or asks for "the letter"; NUMBER when it
 * asks "how many" / "how much" / "calculate" / "compute"; else NONE.
 */
llmopt_cascade_format_e llmopt_cascade_format_asked(const char *prompt,
    size_t len);

/* 1 when text[0..len) has the format asked (docs/CASCADE.md), else 0. */
int llmopt_cascade_format_match(llmopt_cascade_format_e format,
    const char *text, size_t len);

/* Counts of the refusal and the hedge markers in text's first
 * LLMOPT_CASCADE_SCAN_MAX bytes, case-insensitive. */
unsigned llmopt_cascade_refusals(const char *text, size_t len);
unsigned llmopt_cascade_hedges(const char *text, size_t len);

/*
 * Fills x[0..LLMOPT_CASCADE_DIM) with the signals of ans, ex comparing
 * ans->text with ans->other.  Bounded work whatever ans->len is (the
 * bounds above).
 */
void llmopt_cascade_signals(const llmopt_cascade_extractor_t *ex,
    const llmopt_cascade_answer_t *ans, double *x);


/*
 * The token of the answer's text in buf, a whole answer object of dialect
 * parsed into toks[0..ntoks) by llmopt_json_parse(): OpenAI's
 * choices[0].message.content, Anthropic's first content block of type
 * "text"; -1 when it has none (a tool call alone, an error object).
 * llmopt_cascade_answer.c.
 */
int llmopt_cascade_answer_text(llmopt_dialect_e dialect,
    const unsigned char *buf, const llmopt_json_tok_t *toks, unsigned ntoks);

/*
 * The token log-probabilities of an OpenAI answer (choices[0].logprobs
 * .content[].logprob), parsed as above: their count (0: none), their
 * mean and their minimum (0 when none).
 */
unsigned llmopt_cascade_answer_logprobs(const unsigned char *buf,
    const llmopt_json_tok_t *toks, unsigned ntoks, double *mean,
    double *min);

/*
 * Where choices[0].logprobs's value is in buf, [*start, *end), to be
 * replaced by null for a client that did not ask for it: LLMOPT_OK, or
 * LLMOPT_DECLINED when it is absent or null already.
 */
int llmopt_cascade_answer_logprobs_span(const unsigned char *buf,
    const llmopt_json_tok_t *toks, unsigned ntoks, size_t *start,
    size_t *end);


/* The model's probability that the answer of signals x is good. */
double llmopt_cascade_predict(const llmopt_cascade_model_t *m,
    const double *x);

/*
 * One AdaGrad step of the log-loss towards label y in [0, 1] (1: good;
 * a feedback score may be fractional), the step scaled by weight > 0 (1,
 * or an importance weight).  NaN or out-of-range labels and weights are
 * ignored (LLMOPT_DECLINED); LLMOPT_OK else.
 */
int llmopt_cascade_learn(llmopt_cascade_model_t *m,
    const llmopt_cascade_conf_t *conf, const double *x, double y,
    double weight);

/*
 * Accept or escalate the answer of signals x from tier in->tier.  The
 * expected reward of accepting is the reward (llmopt_reward.h's terms and
 * reward's weights) of quality p_good at cost in->spent and latency
 * in->elapsed_ms; of escalating, the next usable tier's quality at cost
 * spent + its cost and latency elapsed + its latency.  The bounds first:
 * a streamed answer, max_tiers, the time budget, no usable later tier
 * (skip set or over the time budget) accept.  When the rule accepts and a
 * tier could take the request, a forced escalation is drawn with the
 * decaying share (rng), and out->propensity is the exact probability of
 * what was decided.  Counts the decision in m->decisions (the forced
 * share's clock).  Never fails.
 */
void llmopt_cascade_decide(llmopt_cascade_model_t *m,
    const llmopt_cascade_conf_t *conf, const llmopt_reward_conf_t *reward,
    const llmopt_cascade_input_t *in, const double *x, llmopt_rng_t *rng,
    llmopt_cascade_decision_t *out);

/* The forced share after n decisions under conf. */
double llmopt_cascade_forced_share(const llmopt_cascade_conf_t *conf,
    uint64_t n);


#endif /* _LLMOPT_CASCADE_H_INCLUDED_ */

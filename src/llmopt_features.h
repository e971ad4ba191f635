/*
 * Copyright (C) llmopt authors
 *
 * The feature vector of a chat request.  See docs/FEATURES.md for the
 * definition and scaling of every feature.
 */

#ifndef _LLMOPT_FEATURES_H_INCLUDED_
#define _LLMOPT_FEATURES_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_request.h"


#define LLMOPT_FEATURE_MAX_DIM   64     /* d of any policy */
#define LLMOPT_FEATURE_BYTES_PER_TOKEN  4   /* text bytes a token, estimated */
#define LLMOPT_FEATURE_MAX_IDS   32     /* entries of a feature list */


typedef enum {
    LLMOPT_FEAT_BIAS = 0,           /* 1 dim, always 1 */
    LLMOPT_FEAT_INPUT_TOKENS,       /* 1 dim, log of estimated input tokens */
    LLMOPT_FEAT_MESSAGES,           /* 1 dim, number of messages */
    LLMOPT_FEAT_SYSTEM_LEN,         /* 1 dim, system prompt length */
    LLMOPT_FEAT_HAS_CODE,           /* 1 dim, 0/1 */
    LLMOPT_FEAT_HAS_TOOLS,          /* 1 dim, 0/1 */
    LLMOPT_FEAT_JSON_FORMAT,        /* 1 dim, 0/1 */
    LLMOPT_FEAT_MAX_TOKENS,         /* 1 dim, requested max_tokens */
    LLMOPT_FEAT_STREAM,             /* 1 dim, 0/1 */
    LLMOPT_FEAT_HOUR,               /* 2 dims, sin and cos of hour of day */
    LLMOPT_FEAT_TENANT,             /* tenant_buckets dims, one-hot hash */
    LLMOPT_FEAT_WORDS,              /* word_buckets dims, hashed words */
    LLMOPT_FEAT_LAST
} llmopt_feature_e;


typedef struct {
    unsigned          n;                          /* entries in ids */
    llmopt_feature_e  ids[LLMOPT_FEATURE_MAX_IDS];
    unsigned          tenant_buckets;             /* default 4 */
    unsigned          word_buckets;               /* default 8 */
    unsigned          d;                          /* total dimension */
} llmopt_feature_spec_t;


/* Per-request context that is not in the body. */

typedef struct {
    double            hour;           /* local hour of day, [0, 24), */
    double            hour_sin;       /*   and its sine and cosine on */
    double            hour_cos;       /*   the day's circle: set all three
                                         with llmopt_feature_hour() */
    const char       *tenant;         /* tenant key, may be NULL */
    size_t            tenant_len;
} llmopt_feature_ctx_t;


/*
 * Sets the hour of ctx and its sine and cosine (a caller that builds many
 * vectors in the same second computes them once).
 */
void llmopt_feature_hour(llmopt_feature_ctx_t *ctx, double hour);

/* Returns the feature id for a catalog name such as "input_tokens", or -1. */
int llmopt_feature_lookup(const char *name, size_t len);

/* The catalog name of a feature id. */
const char *llmopt_feature_name(llmopt_feature_e id);

/*
 * Computes spec->d from ids and bucket counts; LLMOPT_ERROR with a message
 * when d exceeds LLMOPT_FEATURE_MAX_DIM or an id repeats.
 */
int llmopt_feature_spec_finish(llmopt_feature_spec_t *spec, llmopt_err_t *err);

/*
 * Fills x[0 .. spec->d - 1] from a parsed request.  Never allocates.
 */
void llmopt_features_build(const llmopt_feature_spec_t *spec,
    const llmopt_request_t *req, const llmopt_feature_ctx_t *ctx, double *x);

/*
 * Writes {"name":value,...} of a built vector into buf (NUL-terminated,
 * truncated to size); returns the length it needed, excluding the NUL.
 * Multi-dimensional features are written as arrays.
 */
size_t llmopt_features_json(const llmopt_feature_spec_t *spec,
    const double *x, char *buf, size_t size);


/*
 * Writes the names of spec's features into buf, in order, separated by
 * commas, a bucketed feature as "name:buckets" ("bias,has_code,
 * tenant:4"), NUL-terminated and truncated to size; returns the length it
 * needed, excluding the NUL.  The Redis decision stream logs it.
 */
size_t llmopt_features_names(const llmopt_feature_spec_t *spec, char *buf,
    size_t size);

/*
 * Reads what llmopt_features_names() wrote (len bytes of s) into spec,
 * finished; LLMOPT_ERROR with a message naming what is wrong.
 */
int llmopt_features_parse(llmopt_feature_spec_t *spec, const char *s,
    size_t len, llmopt_err_t *err);

/*
 * Where each dimension of a vector of spec "to" is in one of spec "from":
 * map[k] (to->d of them) is its index in from's vector, or -1 when from
 * lacks the feature or has it with another bucket count.  Returns how
 * many are -1.
 */
unsigned llmopt_features_map(const llmopt_feature_spec_t *from,
    const llmopt_feature_spec_t *to, int *map);


#endif /* _LLMOPT_FEATURES_H_INCLUDED_ */

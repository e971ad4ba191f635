/*
 * Copyright (C) llmopt authors
 *
 * The catalog: models (an upstream, a provider model id, prices, headers)
 * and policies (a bandit over arms, the features it sees, how it is
 * rewarded).  Loaded once, at configuration time, from a YAML file; the
 * format is described in docs/CATALOG.md.  Every string the catalog holds
 * is NUL-terminated and lives in the caller's allocator.
 */

#ifndef _LLMOPT_CATALOG_H_INCLUDED_
#define _LLMOPT_CATALOG_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_request.h"
#include "llmopt_features.h"
#include "llmopt_bandit.h"
#include "llmopt_sparse.h"
#include "llmopt_budget.h"
#include "llmopt_cache.h"
#include "llmopt_variant.h"
#include "llmopt_cascade_types.h"


#define LLMOPT_CATALOG_NAME_MAX    63     /* bytes of a model, policy, arm */
#define LLMOPT_CATALOG_ID_MAX      255    /* bytes of a model id, upstream */
#define LLMOPT_CATALOG_MAX_PARAMS  15     /* params of one arm */
#define LLMOPT_CATALOG_MAX_DEPTH   32     /* nesting of YAML collections */
#define LLMOPT_CATALOG_MAX_NODES   100000 /* YAML nodes, aliases expanded */
#define LLMOPT_CATALOG_MAX_TOKENS  4096   /* a model's max_tokens default */


typedef struct {
    llmopt_str_t           name;
    llmopt_str_t           value;            /* ${VAR} already expanded */
} llmopt_header_t;


typedef struct {
    llmopt_str_t           name;             /* catalog key */
    llmopt_str_t           upstream;         /* nginx upstream{} name */
    llmopt_str_t           model;            /* provider's model id */
    llmopt_str_t           model_json;       /* the same, as a JSON string */
    llmopt_dialect_e       api;
    unsigned               api_client:1;     /* no api, none from the
                                                upstream's name: the
                                                client's dialect */
    unsigned               drop_unsupported:1;  /* translated requests
                                                leave out what has no
                                                counterpart */
    int64_t                max_tokens;       /* what a translated request
                                                to Anthropic asks for when
                                                the client says nothing */

    double                 price_input;      /* USD per 1M tokens */
    double                 price_output;
    double                 price_cached_input;

    uint64_t               context_window;   /* tokens, 0 = not stated */

    llmopt_header_t       *headers;
    unsigned               n_headers;

    unsigned               line;
    unsigned               column;
} llmopt_model_t;


typedef struct {
    llmopt_str_t           name;
    unsigned               model;            /* index into catalog models */
    llmopt_kv_t           *params;           /* raw JSON values */
    unsigned               n_params;
    double                 weight;           /* static policies, default 1 */

    unsigned               line;
    unsigned               column;
} llmopt_arm_t;


/*
 * A canary rollout of one arm: it gets stages[0] of the policy's traffic,
 * then each next stage once its answers (at least min_requests, and as
 * many from the other arms) pass the gates against the other arms'
 * answers of the same stage; a failed gate rolls it back (no traffic).
 * The last stage is where the rollout ends.  A gate < 0 is not checked.
 */

#define LLMOPT_CANARY_STAGES   8

typedef struct {
    int                    arm;              /* -1: no canary */
    unsigned               n_stages;
    double                 stages[LLMOPT_CANARY_STAGES];  /* shares, rising */
    uint64_t               min_requests;
    double                 max_quality_drop; /* absolute, on [0, 1] */
    double                 max_cost_rise;    /* relative: 0.2 is +20 % */
    double                 max_latency_rise; /* relative */
} llmopt_canary_conf_t;


/*
 * How a response is scored.  The weights are normalised to sum to 1 when
 * loaded; cost_ref and latency_ref are the scales of the cost and latency
 * terms.
 */

typedef struct {
    double                 quality;
    double                 cost;
    double                 latency;
    double                 cost_ref;         /* USD per request */
    double                 latency_ref;      /* ms */
    double                 slo_penalty;      /* share taken off a reward
                                                flagged LLMOPT_EVENT_SLO */
    unsigned               unscored;         /* LLMOPT_UNSCORED_*: a
                                                success without a score */
} llmopt_reward_conf_t;


/*
 * What a successful answer teaches when its policy waited for feedback
 * and none came (llmopt_reward_arm()): OBSERVED (the default), its cost
 * and latency with the quality its arm's scored answers showed, or
 * nothing before the arm has one; SKIP, nothing; PROXY, the quality
 * proxies of its status and finish reason.  NONE (the zero value): the
 * policy waits for no feedback, every answer is scored by its proxies.  A
 * failure is never unscored: it is learned as a failure.
 */

#define LLMOPT_UNSCORED_NONE      0
#define LLMOPT_UNSCORED_OBSERVED  1
#define LLMOPT_UNSCORED_SKIP      2
#define LLMOPT_UNSCORED_PROXY     3

/* "none", "observed", "skip", "proxy": the catalog's words; NULL else */
const char *llmopt_unscored_name(unsigned unscored);


/*
 * A policy's cascade (docs/CASCADE.md): ordered tiers, each one arm, a set
 * of arms the policy's bandit chooses among, or a pair asked in parallel
 * whose answers are compared under the tier's extractor.  An arm is in
 * one tier at most.  n_tiers 0: no cascade.
 */

#define LLMOPT_TIER_ARM    0                 /* one arm */
#define LLMOPT_TIER_ARMS   1                 /* the bandit chooses one */
#define LLMOPT_TIER_PAIR   2                 /* both, in parallel */

typedef struct {
    unsigned               kind;             /* LLMOPT_TIER_* */
    unsigned              *arms;             /* arm indexes, n_arms of */
    unsigned               n_arms;           /*   them: 1, 2, or >= 1 */
    llmopt_str_t           regex;            /* answer: {regex}; len 0:
                                                the normalised text */
    unsigned               logprobs;         /* ask OpenAI-dialect arms */

    unsigned               line;
    unsigned               column;
} llmopt_tier_t;


typedef struct {
    llmopt_tier_t         *tiers;
    unsigned               n_tiers;          /* 2 .. LLMOPT_CASCADE_MAX_TIERS,
                                                0: none */
    llmopt_cascade_conf_t  conf;             /* the core's tunables */
} llmopt_policy_cascade_t;


typedef struct {
    llmopt_str_t           name;
    llmopt_dialect_e       dialect;          /* the client's when the
                                                location does not say: the
                                                first arm's with an api */
    unsigned               mixed:1;          /* arms of both apis */
    unsigned               drop_unsupported:1;  /* for every arm */
    llmopt_bandit_conf_t   bandit;           /* n_arms and d are set */
    llmopt_feature_spec_t  features;         /* finished: d is set */
    unsigned               sparse_on;        /* algorithm sparse: the
                                                sparse learner decides,
                                                "bandit" (epsilon_greedy)
                                                keeps the arms' counts */
    llmopt_sparse_conf_t   sparse;           /* with sparse_on */

    llmopt_arm_t          *arms;
    unsigned               n_arms;

    llmopt_variant_t      *variants;         /* prompt variants, the
                                                control first; NULL: none */
    unsigned               n_variants;

    llmopt_reward_conf_t   reward;
    int                    fallback;         /* arm index, -1 = none */
    int                    baseline;         /* arm index the dashboard's
                                                savings compare with, -1:
                                                the costliest */
    uint64_t               feedback_wait_ms;
    unsigned               feedback_tenant_same;  /* feedback only from
                                                     the request's tenant
                                                     key */

    /* guardrails */
    double                 max_cost;         /* USD a request, estimated
                                                before; 0 = no limit */
    unsigned               breaker_failures; /* consecutive failures that
                                                open an arm's circuit;
                                                0 = no breaker */
    uint64_t               breaker_cooldown_ms;  /* open that long */
    double                 breaker_error_rate;   /* failures among the
                                                    answers of the last
                                                    window that open it;
                                                    0 = off */
    uint64_t               breaker_window_ms;
    unsigned               breaker_min_requests; /* in the window, first */
    uint64_t               latency_slo_ms;   /* an arm whose recent p95
                                                latency is above is left
                                                out (or penalised); 0 =
                                                none */
    unsigned               latency_slo_penalise;  /* 1: its rewards lose
                                                reward.slo_penalty
                                                instead */

    unsigned               budgeted;         /* any cap in budget */
    llmopt_budget_conf_t   budget;
    llmopt_canary_conf_t   canary;
    llmopt_cache_conf_t    cache;            /* what may be cached */
    llmopt_policy_cascade_t  cascade;

    /* drift: what the trainer does when an arm's rewards or latencies
       change (always detected, logged and counted) */
    unsigned               drift_response;   /* LLMOPT_DRIFT_* */
    double                 drift_keep;       /* forget keeps this share */
    double                 drift_explore;    /* explore: this share of
                                                decisions at random */
    uint64_t               drift_explore_ms; /*   for that long */

    unsigned               line;
    unsigned               column;
} llmopt_policy_t;


#define LLMOPT_DRIFT_NONE     0
#define LLMOPT_DRIFT_RESET    1
#define LLMOPT_DRIFT_FORGET   2
#define LLMOPT_DRIFT_EXPLORE  3


typedef struct {
    llmopt_str_t           file;             /* as given to the loader */
    uint64_t               version;          /* hash of the file's bytes */

    llmopt_model_t        *models;
    unsigned               n_models;
    llmopt_policy_t       *policies;
    unsigned               n_policies;
} llmopt_catalog_t;


/*
 * Reads and loads the catalog file at path (see
 * llmopt_catalog_load_string()).  A file that cannot be read is an error
 * with line and column 0.
 */
int llmopt_catalog_load_file(llmopt_catalog_t *cat, const char *path,
    const llmopt_alloc_t *alloc, llmopt_err_t *err);

/*
 * Parses and validates text[0 .. len - 1] as a catalog; name (the file
 * name, any string) is copied into cat->file.  Every allocation goes
 * through alloc; nothing is freed, the catalog lives as long as the
 * allocator's owner.  Header values have ${VAR} expanded from the
 * environment of the calling process.
 *
 * Returns LLMOPT_OK, or LLMOPT_ERROR with err->line and err->column (1-based,
 * the offending YAML node) and err->msg (the message alone, no file name);
 * cat is unusable then.
 */
int llmopt_catalog_load_string(llmopt_catalog_t *cat, const char *name,
    const char *text, size_t len, const llmopt_alloc_t *alloc,
    llmopt_err_t *err);

/* The policy with that name, or NULL. */
const llmopt_policy_t *llmopt_catalog_policy(const llmopt_catalog_t *cat,
    const char *name, size_t len);

/* The model with that catalog key (not the provider id), or NULL. */
const llmopt_model_t *llmopt_catalog_model(const llmopt_catalog_t *cat,
    const char *name, size_t len);

/* The index of the arm with that name in policy, or -1. */
int llmopt_policy_arm(const llmopt_policy_t *policy, const char *name,
    size_t len);

/* The cascade tier arm is in, or -1 (no cascade, or not in one). */
int llmopt_policy_tier(const llmopt_policy_t *policy, unsigned arm);

/*
 * The dialect model speaks upstream for a client of dialect client: its
 * api, or the client's when it has none.
 */
llmopt_dialect_e llmopt_model_dialect(const llmopt_model_t *model,
    llmopt_dialect_e client);

/*
 * The cost in USD of a call that read input_tokens (of which cached_tokens
 * were served from the provider's prompt cache) and wrote output_tokens.
 */
double llmopt_model_cost(const llmopt_model_t *model, uint64_t input_tokens,
    uint64_t cached_tokens, uint64_t output_tokens);


/*
 * The loader's side of the catalog: src/llmopt_catalog_yaml.c turns YAML
 * into this plain tree (it alone knows libyaml), src/llmopt_catalog_load.c
 * hands it to llmopt_catalog_build(), which validates it section by
 * section (src/llmopt_catalog_<section>.c) and fills the catalog.
 */

typedef enum {
    LLMOPT_CATALOG_SCALAR = 0,
    LLMOPT_CATALOG_MAP,
    LLMOPT_CATALOG_SEQ
} llmopt_catalog_node_e;


typedef struct llmopt_catalog_node_s  llmopt_catalog_node_t;

struct llmopt_catalog_node_s {
    llmopt_catalog_node_e   type;
    unsigned                line;            /* 1-based */
    unsigned                column;
    unsigned                plain;           /* unquoted scalar */
    llmopt_str_t            scalar;          /* NUL-terminated */
    unsigned                n;               /* seq items, map pairs */
    llmopt_catalog_node_t **items;           /* seq: n, map: key, value... */
};


/*
 * Validates the tree under root (a document of text[0 .. len - 1], named
 * name) and fills cat.  Returns LLMOPT_OK or LLMOPT_ERROR as
 * llmopt_catalog_load_string() does.
 */
int llmopt_catalog_build(llmopt_catalog_t *cat, const char *name,
    const char *text, size_t len, const llmopt_catalog_node_t *root,
    const llmopt_alloc_t *alloc, llmopt_err_t *err);


#endif /* _LLMOPT_CATALOG_H_INCLUDED_ */

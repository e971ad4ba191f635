/*
 * Copyright (C) llmopt authors
 *
 * replay's parts and what they share: the data set (replay_data.c: any
 * CSV of the RouterBench schema), the policy and one online pass over the
 * rows (replay_run.c), the figures and their report (replay_report.c),
 * the rows for the end-to-end replay (replay_export.c), the options and
 * the sweep (replay.c), and the decisions of a catalog's policy over a
 * stream of requests (replay_catalog.c).  docs/REPLAY.md defines every
 * figure.
 */

#ifndef _REPLAY_H_INCLUDED_
#define _REPLAY_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_bandit.h"
#include "llmopt_catalog.h"
#include "llmopt_features.h"
#include "llmopt_reward.h"
#include "llmopt_cascade.h"
#include "llmopt_request.h"
#include "llmopt_rng.h"
#include "llmopt_sparse.h"
#include "llmopt_decide.h"


#define REPLAY_MAX_MODELS    LLMOPT_MAX_ARMS
#define REPLAY_MAX_FILES     64
#define REPLAY_MAX_WEIGHTS   32
#define REPLAY_MAX_SEEDS     100
#define REPLAY_STUCK_REGRET  0.05       /* a stuck run: docs/REPLAY.md */


typedef struct {
    char                  *body;        /* OpenAI chat request JSON */
    size_t                 len;
    unsigned               file;        /* index of its --data file */
    double                *quality;     /* [n_models], correctness [0, 1] */
    double                *cost;        /* [n_models], USD */
} replay_row_t;


typedef struct {
    const char            *files[REPLAY_MAX_FILES];
    unsigned               file_rows[REPLAY_MAX_FILES];
    unsigned               n_files;
    char                  *models[REPLAY_MAX_MODELS];  /* the first file's
                                                          order */
    unsigned               n_models;
    replay_row_t          *rows;
    unsigned               n_rows;
    unsigned               cap_rows;
    unsigned               skipped;     /* rows with a missing value */
} replay_data_t;


typedef struct {
    double                 cost;        /* USD */
    double                 accuracy;
} replay_point_t;


/* what one online pass measured */

typedef struct {
    double                 accuracy;
    double                 cost;        /* USD, total */
    double                 regret;      /* per decision, second half */
    unsigned               stuck;
} replay_result_t;


/* one cost weight's runs, one a seed, and their figures */

typedef struct {
    double                 weight;
    replay_result_t        run[REPLAY_MAX_SEEDS];
    double                 accuracy;    /* mean over seeds */
    double                 se_accuracy; /* standard error of the mean */
    double                 cost;
    double                 se_cost;
    double                 hull;        /* the hull's accuracy at cost */
    double                 distance;    /* mean of accuracy - hull(cost) */
    double                 se_distance;
    double                 regret;      /* mean, second half */
    unsigned               stuck;
} replay_op_t;


/* what the report needs to know of the run */

typedef struct {
    const char            *best;        /* --best, NULL: the most accurate */
    const char            *json;        /* --json FILE */
    unsigned               seeds;
    unsigned               n_ops;
    replay_op_t           *ops;
    double                 elapsed;     /* s */
} replay_report_conf_t;


typedef struct {
    const char            *algorithm;   /* NULL: the default's */
    double                 alpha;       /* < 0: not given */
    double                 ridge;
    double                 epsilon;
    double                 prior_mean;
    double                 floor;
    double                 decay;
    double                 cost_ref;
    const char            *features;    /* NULL: the default list */
    unsigned               word_buckets;
    double                 bits;        /* sparse's; < 0: not given */
    double                 ngrams;
    double                 learning_rate;
    double                 exploration;
    const char            *catalog;     /* --catalog: its --policy */
    const char            *policy;
} replay_policy_conf_t;


/* the policy the pass decides with, and its arms' columns in the data */

typedef struct {
    llmopt_catalog_t       cat;
    const llmopt_policy_t *pol;
    unsigned               column[LLMOPT_MAX_ARMS];
    unsigned               n_arms;
} replay_policy_t;


/*
 * Adds the rows of a CSV file to data: a header naming "prompt", and
 * models X with columns "X" (correctness in [0, 1]) and "X|total_cost"
 * (USD); "X|model_response" is kept for --export only.  The first file
 * fixes the models; later files must have the same ones, in any order.
 * A row with an empty or NaN value of a model is skipped and counted;
 * anything else that is not a number is an error.  Errors are printed as
 * one line naming file, row and column; returns -1 on one, else 0.
 * answers, if not NULL, is called with ctx and each kept row, its fields
 * and the columns of its models' responses ((unsigned) -1: none), before
 * the row is added: --export writes it out; non-zero stops the load.
 */
int replay_data_load(replay_data_t *data, const char *path,
    int (*answers)(void *ctx, const replay_data_t *data,
    const replay_row_t *row, char **fields, const unsigned *r_col),
    void *ctx);

/*
 * A path given to --data: a file is loaded, a directory's *.csv files
 * are, in name order.  Returns -1 on an error (printed), else 0.
 */
int replay_data_add(replay_data_t *data, const char *path,
    int (*answers)(void *ctx, const replay_data_t *data,
    const replay_row_t *row, char **fields, const unsigned *r_col),
    void *ctx);

/*
 * The text of a RouterBench cell: a Python list literal of strings is
 * their decoded texts joined by new lines, anything else the cell as it
 * is.  Returns a malloc()ed NUL-terminated copy, its length in *len; NULL
 * when out of memory.
 */
char *replay_text(const char *literal, size_t *len);

/* The index of a model's name in data, or -1. */
int replay_data_model(const replay_data_t *data, const char *name);


/*
 * The policy the replay decides with: the catalog's --policy, its arms
 * matched to the data's models by model id or catalog name; without a
 * catalog, one derived from the data (its models as arms, linucb with
 * the replay's defaults, overridden by the options of pc).  Returns -1
 * on an error (printed).
 */
int replay_policy_make(replay_policy_t *rp, const replay_data_t *data,
    const replay_policy_conf_t *pc);

/*
 * The policy's reward with quality weight 1 - w and cost weight w, no
 * latency (the data set has none).
 */
void replay_reward_conf(const replay_policy_t *rp, double w,
    llmopt_reward_conf_t *rconf);

/* The reward llmopt_reward() gives an answer of quality and cost. */
double replay_reward(const llmopt_reward_conf_t *rconf, unsigned arm,
    double quality, double cost);

/* The order of the rows in the pass of a seed: a Fisher-Yates shuffle. */
void replay_shuffle(unsigned *order, unsigned n, uint64_t seed);

/*
 * One online pass from a cold start over the rows in the order of seed's
 * shuffle, deciding through llmopt_decide() and learning each answer's
 * reward at cost weight w.
 */
void replay_run(const replay_policy_t *rp, const replay_data_t *data,
    double w, uint64_t seed, replay_result_t *res);


/*
 * What nginx's zone and trainer hold for a policy (replay_learner.c): the
 * bandit's block and, for algorithm sparse, its table.  req is the
 * request being decided, set before llmopt_decide(); f and carry are the
 * sparse learner's features and the event's carry.
 */

typedef struct {
    const llmopt_policy_t       *pol;
    const llmopt_bandit_conf_t  *bconf;
    void                        *block;
    void                        *table;     /* NULL: not sparse */
    const llmopt_request_t      *req;
    llmopt_sparse_features_t     f;
    llmopt_sparse_carry_t        carry;
} replay_learner_t;

/* A cold start of pol with bconf (its seed may differ); -1: no memory. */
int replay_learner_init(replay_learner_t *l, const llmopt_policy_t *pol,
    const llmopt_bandit_conf_t *bconf);
void replay_learner_free(replay_learner_t *l);

/* llmopt_decide()'s select callback, data a replay_learner_t: nginx's. */
int replay_learner_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice);

/*
 * After llmopt_decide(): an arm of a sparse policy served by another rule
 * than its choice (a pin, a probe, a canary, shadow's fallback, the
 * fallback) gets its carry from the request and the arm's score, as
 * nginx gives it.
 */
void replay_learner_decided(replay_learner_t *l,
    const llmopt_decide_out_t *out, const double *x, llmopt_rng_t *rng);

/*
 * The trainer's update of the arm's reward: the bandit's with x, then,
 * for a sparse policy, the table's from the carry and x as floats.
 */
void replay_learner_update(replay_learner_t *l, unsigned arm,
    const double *x, double reward);


/*
 * The figures of a sweep (replay_report.c): fills each op's means,
 * standard errors and distances to the hull from its runs, prints the
 * report and writes it as JSON when rc->json is set.  Returns -1 when
 * the best model is unknown or the JSON cannot be written, else 0.
 */
int replay_report(const replay_data_t *data, const replay_policy_t *rp,
    const replay_report_conf_t *rc);

/* The mean and standard error of the mean of n values. */
void replay_mean_se(const double *v, unsigned n, double *mean, double *se);


/*
 * --export: rows.jsonl, models.txt and each seed's order-<seed>.txt in
 * dir, for scripts/replay-e2e (replay_export.c).
 */
int replay_export_open(const char *dir);
int replay_export_row(void *ctx, const replay_data_t *data,
    const replay_row_t *row, char **fields, const unsigned *r_col);
int replay_export_close(const char *dir, const replay_data_t *data,
    unsigned seeds);

/* --measured: "weight seed accuracy cost" lines (replay_export.c) */
int replay_measured_read(const char *path);
int replay_measured_find(double weight, unsigned seed, double *accuracy,
    double *cost);


/*
 * build/replay --catalog FILE --policy NAME --requests FILE: each line of
 * the requests file an OpenAI chat body; each is decided by
 * llmopt_decide() with the policy as nginx loads it (its algorithm,
 * features, guardrails, seed, fallback), from a cold start and with no
 * learning, and printed as "<n> <arm> <propensity>".  With outcomes (a
 * file of "<arm> <status> <latency ms>" lines, NULL: every arm answers
 * 200 at once) each served arm's answer is told to its circuit breaker
 * and its latency SLO as nginx tells them, one request after another.
 * Returns the exit status.
 */
int replay_catalog(const char *catalog, const char *policy,
    const char *requests, const char *outcomes);


/* --cascade: the tiers, each one model or a pair (replay_cascade.c) */

typedef struct {
    unsigned                    n_tiers;
    unsigned                    model[LLMOPT_CASCADE_MAX_TIERS][2];
    unsigned                    pair[LLMOPT_CASCADE_MAX_TIERS];  /* 1, 2 */
    llmopt_cascade_conf_t       conf;
    llmopt_cascade_extractor_t  ex;         /* normalised text */
} replay_cascade_t;

/*
 * Parses "a+b,c": tiers separated by commas, a pair's two models by "+",
 * each a model of data.  Returns -1 on an error (printed), else 0.
 */
int replay_cascade_tiers(replay_cascade_t *cc, const replay_data_t *data,
    const char *spec);

/* replay_data_add()'s answers callback: keeps every row's answers */
int replay_cascade_keep(void *ctx, const replay_data_t *data,
    const replay_row_t *row, char **fields, const unsigned *r_col);

/*
 * One online pass of the cascade from a cold start over the rows in the
 * order of seed's shuffle, deciding with rconf's weights; res's regret is
 * 0 (the cascade has no fixed arm to compare with).
 */
void replay_cascade_run(const replay_cascade_t *cc,
    const replay_data_t *data, const llmopt_reward_conf_t *rconf,
    uint64_t seed, replay_result_t *res);


#endif /* _REPLAY_H_INCLUDED_ */

/*
 * Copyright (C) llmopt authors
 *
 * replay's policy and its online pass: the policy of a catalog, or one
 * derived from the data set, decides each row through llmopt_decide() as
 * nginx does, is scored by llmopt_reward() and learns as the trainer
 * does (replay_learner.c).  Links src/ only.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_core.h"
#include "llmopt_request.h"
#include "llmopt_features.h"
#include "llmopt_bandit.h"
#include "llmopt_rng.h"
#include "llmopt_catalog.h"
#include "llmopt_ring.h"
#include "llmopt_usage.h"
#include "llmopt_reward.h"
#include "llmopt_decide.h"
#include "replay.h"


#define REPLAY_TOKS          256
#define REPLAY_SHUFFLE_SALT  0x7265706c61792121ULL
#define REPLAY_POLICY_TEXT   8192


static int replay_policy_text(char *text, size_t size,
    const replay_data_t *data, const replay_policy_conf_t *pc);
static void *replay_alloc(void *ctx, size_t size);


static llmopt_json_tok_t  replay_run_toks[REPLAY_TOKS];


int
replay_policy_make(replay_policy_t *rp, const replay_data_t *data,
    const replay_policy_conf_t *pc)
{
    int                 c;
    char               *text, name[LLMOPT_CATALOG_ID_MAX + 1];
    size_t              len;
    unsigned            a;
    llmopt_err_t        err;
    llmopt_alloc_t      alloc = { replay_alloc, NULL };
    const char         *policy;
    const llmopt_str_t *id, *key;

    memset(&err, 0, sizeof(llmopt_err_t));
    memset(rp, 0, sizeof(replay_policy_t));

    if (pc->catalog != NULL) {
        if (llmopt_catalog_load_file(&rp->cat, pc->catalog, &alloc, &err)
            != LLMOPT_OK)
        {
            fprintf(stderr, "replay: %s:%u:%u: %s\n", pc->catalog, err.line,
                    err.column, err.msg);
            return -1;
        }

        policy = pc->policy;

    } else {
        text = malloc(REPLAY_POLICY_TEXT);
        if (text == NULL) {
            fprintf(stderr, "replay: out of memory\n");
            return -1;
        }

        if (replay_policy_text(text, REPLAY_POLICY_TEXT, data, pc) != 0) {
            free(text);
            return -1;
        }

        len = strlen(text);

        if (llmopt_catalog_load_string(&rp->cat, "replay", text, len,
                                       &alloc, &err)
            != LLMOPT_OK)
        {
            fprintf(stderr, "replay: the policy derived from the data set: "
                    "%u:%u: %s\n%s", err.line, err.column, err.msg, text);
            free(text);
            return -1;
        }

        free(text);
        policy = "replay";
    }

    rp->pol = llmopt_catalog_policy(&rp->cat, policy, strlen(policy));

    if (rp->pol == NULL) {
        fprintf(stderr, "replay: no policy \"%s\" in %s\n", policy,
                pc->catalog);
        return -1;
    }

    if (rp->pol->bandit.algorithm == LLMOPT_ALG_STATIC) {
        fprintf(stderr, "replay: policy \"%s\" is static: it learns "
                "nothing to replay\n", policy);
        return -1;
    }

    /* each arm's column: its model's id, else its catalog key */

    rp->n_arms = rp->pol->n_arms;

    for (a = 0; a < rp->n_arms; a++) {
        id = &rp->cat.models[rp->pol->arms[a].model].model;
        key = &rp->cat.models[rp->pol->arms[a].model].name;

        snprintf(name, sizeof(name), "%.*s", (int) id->len, id->data);
        c = replay_data_model(data, name);

        if (c < 0) {
            snprintf(name, sizeof(name), "%.*s", (int) key->len, key->data);
            c = replay_data_model(data, name);
        }

        if (c < 0) {
            fprintf(stderr, "replay: arm \"%.*s\" of policy \"%s\": model "
                    "\"%.*s\" (\"%s\") is not a model of the data set\n",
                    (int) rp->pol->arms[a].name.len,
                    rp->pol->arms[a].name.data, policy, (int) id->len,
                    id->data, name);
            return -1;
        }

        rp->column[a] = (unsigned) c;
    }

    return 0;
}


/*
 * The catalog of a data set: each model an arm at no price (the data set
 * has the costs), no guardrail (it has neither context windows nor
 * latencies), the algorithm and hyperparameters given, else the
 * replay's defaults (docs/REPLAY.md).
 */

static int
replay_policy_text(char *text, size_t size, const replay_data_t *data,
    const replay_policy_conf_t *pc)
{
    int          linear;
    size_t       len;
    unsigned     m;
    const char  *alg, *sep;

#define replay_put(...)                                                      \
    do {                                                                     \
        if (len < size) {                                                    \
            len += (size_t) snprintf(text + len, size - len, __VA_ARGS__);   \
        }                                                                    \
    } while (0)

    alg = pc->algorithm != NULL ? pc->algorithm : "linucb";
    linear = strcmp(alg, "linucb") == 0 || strcmp(alg, "lin_ts") == 0;
    len = 0;

    replay_put("models:\n");

    for (m = 0; m < data->n_models; m++) {
        replay_put("  \"m%u\": {upstream: u, model: \"%s\", price: {input: 0, "
                   "output: 0}}\n", m, data->models[m]);
    }

    replay_put("policies:\n  replay:\n    algorithm: %s\n", alg);

    if (pc->alpha >= 0) {
        replay_put("    alpha: %.17g\n", pc->alpha);
    }

    if (pc->ridge >= 0 && linear) {
        replay_put("    lambda: %.17g\n", pc->ridge);
    }

    if (pc->prior_mean >= 0 && linear) {
        replay_put("    prior_mean: %.17g\n", pc->prior_mean);
    }

    if (pc->epsilon >= 0) {
        replay_put("    epsilon: %.17g\n", pc->epsilon);
    }

    if (pc->floor >= 0) {
        replay_put("    exploration_floor: %.17g\n", pc->floor);
    }

    if (pc->decay >= 0) {
        replay_put("    exploration_decay: %.17g\n", pc->decay);
    }

    replay_put("    features: [%s]\n", pc->features != NULL
               ? pc->features
               : "bias, input_tokens, messages, has_code, has_tools, hour");

    if (pc->word_buckets > 0) {
        replay_put("    word_buckets: %u\n", pc->word_buckets);
    }

    if (strcmp(alg, "sparse") == 0) {
        sep = "";
        replay_put("    sparse: {");

        if (pc->bits >= 0) {
            replay_put("bits: %u", (unsigned) pc->bits);
            sep = ", ";
        }

        if (pc->ngrams >= 0) {
            replay_put("%sngrams: %u", sep, (unsigned) pc->ngrams);
            sep = ", ";
        }

        if (pc->learning_rate >= 0) {
            replay_put("%slearning_rate: %.17g", sep, pc->learning_rate);
            sep = ", ";
        }

        if (pc->exploration >= 0) {
            replay_put("%sexploration: %.17g", sep, pc->exploration);
        }

        replay_put("}\n");
    }

    if (pc->cost_ref > 0) {
        replay_put("    reward: {cost_ref: %.17g}\n", pc->cost_ref);
    }

    replay_put("    arms: [");

    for (m = 0; m < data->n_models; m++) {
        replay_put("%sm%u", m ? ", " : "", m);
    }

    replay_put("]\n");

#undef replay_put

    if (len >= size) {
        fprintf(stderr, "replay: too many models for the derived policy\n");
        return -1;
    }

    return 0;
}


void
replay_reward_conf(const replay_policy_t *rp, double w,
    llmopt_reward_conf_t *rconf)
{
    *rconf = rp->pol->reward;

    rconf->quality = 1 - w;
    rconf->cost = w;
    rconf->latency = 0;
    rconf->unscored = LLMOPT_UNSCORED_NONE;
}


/*
 * The reward the core gives an answer of the data set: the OUTCOME event
 * the trainer would see (a 200 that finished normally, its cost, the
 * correctness as the explicit quality score, latency unknown) scored by
 * llmopt_reward().
 */

double
replay_reward(const llmopt_reward_conf_t *rconf, unsigned arm,
    double quality, double cost)
{
    llmopt_event_t   ev;
    llmopt_reward_t  reward;

    memset(&ev, 0, sizeof(llmopt_event_t));

    ev.kind = LLMOPT_EVENT_OUTCOME;
    ev.status = 200;
    ev.finish = LLMOPT_FINISH_STOP;
    ev.arm = (uint16_t) arm;
    ev.cost = cost;
    ev.quality = (float) quality;
    ev.latency_ms = -1;
    ev.ttft_ms = -1;

    if (llmopt_reward(rconf, &ev, &reward) != LLMOPT_OK) {
        fprintf(stderr, "replay: the core declined to score an outcome\n");
        exit(1);
    }

    return reward.reward;
}


void
replay_shuffle(unsigned *order, unsigned n, uint64_t seed)
{
    unsigned      i, j, tmp;
    llmopt_rng_t  shuffle;

    llmopt_rng_seed(&shuffle, seed ^ REPLAY_SHUFFLE_SALT);

    for (i = 0; i < n; i++) {
        order[i] = i;
    }

    for (i = n; i > 1; i--) {
        j = llmopt_rng_below(&shuffle, i);
        tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}


/*
 * One pass: parse, features, decide, reward, update.  The regret of the
 * second half is against the single arm of the highest total reward over
 * the same rows, the best fixed choice in hindsight.
 */

void
replay_run(const replay_policy_t *rp, const replay_data_t *data, double w,
    uint64_t seed, replay_result_t *res)
{
    double                 x[LLMOPT_FEATURE_MAX_DIM], correct, spent, r;
    double                 got, fixed[LLMOPT_MAX_ARMS], best;
    unsigned               i, a, m, half, *order;
    llmopt_err_t           err;
    llmopt_rng_t           rng;
    llmopt_request_t       req;
    replay_row_t          *row;
    llmopt_guard_need_t    need;
    llmopt_decide_in_t     in;
    llmopt_decide_out_t    out;
    unsigned char          breach[LLMOPT_MAX_ARMS];
    uint64_t               until[LLMOPT_MAX_ARMS];
    llmopt_bandit_conf_t   bconf;
    llmopt_reward_conf_t   rconf;
    static replay_learner_t  learner;

    bconf = rp->pol->bandit;
    bconf.seed = seed;

    replay_reward_conf(rp, w, &rconf);

    order = malloc(data->n_rows * sizeof(unsigned));

    if (order == NULL || replay_learner_init(&learner, rp->pol, &bconf) != 0)
    {
        fprintf(stderr, "replay: out of memory\n");
        exit(1);
    }

    llmopt_rng_seed(&rng, seed);
    replay_shuffle(order, data->n_rows, seed);

    /* nothing of the zone's state: every circuit closed, no SLO breach */

    memset(breach, 0, sizeof(breach));
    memset(until, 0, sizeof(until));
    memset(&in, 0, sizeof(llmopt_decide_in_t));

    in.catalog = &rp->cat;
    in.policy = rp->pol;
    in.x = x;
    in.fallback = rp->pol->fallback >= 0 ? (unsigned) rp->pol->fallback : 0;
    in.slo_breach = breach;
    in.breaker_until = until;
    in.canary_share = -1;
    in.rng = &rng;
    in.select = replay_learner_select;
    in.data = &learner;

    correct = 0;
    spent = 0;
    got = 0;
    half = data->n_rows / 2;

    for (a = 0; a < rp->n_arms; a++) {
        fixed[a] = 0;
    }

    for (i = 0; i < data->n_rows; i++) {
        row = &data->rows[order[i]];

        if (llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                                 (unsigned char *) row->body, row->len,
                                 replay_run_toks, REPLAY_TOKS, 64, &err)
            != LLMOPT_OK)
        {
            fprintf(stderr, "replay: parse failed: %s\n", err.msg);
            exit(1);
        }

        llmopt_features_build(&rp->pol->features, &req, NULL, x);

        llmopt_guard_need(&req, &need);
        in.need = &need;
        learner.req = &req;

        if (llmopt_decide(&in, &out) != LLMOPT_DECIDE_OK) {
            fprintf(stderr, "replay: the policy decided nothing\n");
            exit(1);
        }

        replay_learner_decided(&learner, &out, x, &rng);

        a = out.arm;
        m = rp->column[a];
        correct += row->quality[m];
        spent += row->cost[m];
        r = replay_reward(&rconf, a, row->quality[m], row->cost[m]);

        if (i >= half) {
            got += r;

            for (a = 0; a < rp->n_arms; a++) {
                m = rp->column[a];
                fixed[a] += replay_reward(&rconf, a, row->quality[m],
                                          row->cost[m]);
            }

            a = out.arm;
        }

        replay_learner_update(&learner, a, x, r);
    }

    best = fixed[0];

    for (a = 1; a < rp->n_arms; a++) {
        best = fixed[a] > best ? fixed[a] : best;
    }

    res->accuracy = correct / data->n_rows;
    res->cost = spent;
    res->regret = data->n_rows > half ? (best - got) / (data->n_rows - half)
                                      : 0;
    res->stuck = res->regret > REPLAY_STUCK_REGRET;
    replay_learner_free(&learner);
    free(order);
}


static void *
replay_alloc(void *ctx, size_t size)
{
    return calloc(1, size);
}

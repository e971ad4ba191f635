/*
 * Copyright (C) llmopt authors
 *
 * A cascade's acceptance model (a logistic model per tier, AdaGrad steps)
 * and its accept/escalate decision with its bounds and forced share
 * (llmopt_cascade.h).
 */

#include <math.h>
#include <string.h>

#include "llmopt_cascade.h"
#include "llmopt_reward.h"


#define LLMOPT_CASCADE_Z_MAX   30.0     /* |w.x| past which p is 0 or 1 */


static double llmopt_cascade_z(const llmopt_cascade_model_t *m,
    const double *x);


static const char *const  llmopt_cascade_signal_names[] = {
    "cascade_bias",
    "cascade_length",
    "cascade_empty",
    "cascade_complete",
    "cascade_truncated",
    "cascade_filtered",
    "cascade_refusal",
    "cascade_hedge",
    "cascade_logprob_none",
    "cascade_logprob_mean",
    "cascade_logprob_min",
    "cascade_agree_none",
    "cascade_agree",
    "cascade_format_asked",
    "cascade_format_match",
    "cascade_request"
};

static const char *const  llmopt_cascade_why_names[] = {
    "accept", "escalate", "forced", "last_tier", "max_tiers", "time",
    "streamed", "skipped"
};


void
llmopt_cascade_conf_default(llmopt_cascade_conf_t *conf)
{
    conf->max_tiers = 3;
    conf->time_budget_ms = 0;
    conf->rate = 0.5;
    conf->l2 = 1e-4;
    conf->forced_share = 0.1;
    conf->forced_half = 1000;
    conf->forced_floor = 0.01;
}


const char *
llmopt_cascade_signal_name(unsigned i)
{
    if (i >= LLMOPT_CASCADE_DIM) {
        return NULL;
    }

    /* the request's dimensions share one name: "cascade_request" */

    return llmopt_cascade_signal_names[i < LLMOPT_CASCADE_SIG_REQUEST
                                       ? i : LLMOPT_CASCADE_SIG_REQUEST];
}


const char *
llmopt_cascade_why_name(llmopt_cascade_why_e why)
{
    if ((unsigned) why > LLMOPT_CASCADE_WHY_SKIPPED) {
        return "unknown";
    }

    return llmopt_cascade_why_names[why];
}


static double
llmopt_cascade_z(const llmopt_cascade_model_t *m, const double *x)
{
    double    z;
    unsigned  i;

    z = 0;

    for (i = 0; i < LLMOPT_CASCADE_DIM; i++) {
        z += m->w[i] * x[i];
    }

    if (!(z > -LLMOPT_CASCADE_Z_MAX)) {
        return -LLMOPT_CASCADE_Z_MAX;      /* NaN too */
    }

    return z < LLMOPT_CASCADE_Z_MAX ? z : LLMOPT_CASCADE_Z_MAX;
}


double
llmopt_cascade_predict(const llmopt_cascade_model_t *m, const double *x)
{
    return 1 / (1 + exp(-llmopt_cascade_z(m, x)));
}


int
llmopt_cascade_learn(llmopt_cascade_model_t *m,
    const llmopt_cascade_conf_t *conf, const double *x, double y,
    double weight)
{
    double    p, g;
    unsigned  i;

    if (!(y >= 0 && y <= 1) || !(weight > 0) || isinf(weight)) {
        return LLMOPT_DECLINED;
    }

    p = llmopt_cascade_predict(m, x);

    for (i = 0; i < LLMOPT_CASCADE_DIM; i++) {

        if (!isfinite(x[i])) {
            continue;
        }

        g = (p - y) * x[i];

        if (i != LLMOPT_CASCADE_SIG_BIAS) {
            g += conf->l2 * m->w[i];
        }

        g *= weight;

        if (g == 0) {
            continue;
        }

        m->g2[i] += g * g;
        m->w[i] -= conf->rate * g / sqrt(m->g2[i]);
    }

    m->updates++;

    return LLMOPT_OK;
}


double
llmopt_cascade_forced_share(const llmopt_cascade_conf_t *conf, uint64_t n)
{
    double  share, floor;

    share = conf->forced_share > 0 ? fmin(conf->forced_share, 1) : 0;
    floor = conf->forced_floor > 0 ? fmin(conf->forced_floor, share) : 0;

    if (!(conf->forced_half > 0)) {
        return share;
    }

    return floor + (share - floor) * exp2(-(double) n / conf->forced_half);
}


void
llmopt_cascade_decide(llmopt_cascade_model_t *m,
    const llmopt_cascade_conf_t *conf, const llmopt_reward_conf_t *reward,
    const llmopt_cascade_input_t *in, const double *x, llmopt_rng_t *rng,
    llmopt_cascade_decision_t *out)
{
    double                        ct, lt, wq, base, share, latency;
    unsigned                      j, over_time;
    const llmopt_cascade_tier_t  *next;

    memset(out, 0, sizeof(llmopt_cascade_decision_t));

    out->p_good = llmopt_cascade_predict(m, x);
    out->propensity = 1;
    out->threshold = -1;
    out->reward_escalate = -1;

    ct = llmopt_reward_cost_term(in->spent, reward->cost_ref);
    lt = llmopt_reward_latency_term(in->elapsed_ms, reward->latency_ref);
    out->reward_accept = llmopt_reward_mix(reward, out->p_good, ct, lt);

    /* the bounds, in their order */

    if (in->streamed) {
        out->why = LLMOPT_CASCADE_WHY_STREAMED;
        return;
    }

    if (in->tried >= conf->max_tiers) {
        out->why = LLMOPT_CASCADE_WHY_MAX_TIERS;
        return;
    }

    if (conf->time_budget_ms > 0 && in->elapsed_ms >= conf->time_budget_ms) {
        out->why = LLMOPT_CASCADE_WHY_TIME;
        return;
    }

    if (in->tier + 1 >= in->n_tiers) {
        out->why = LLMOPT_CASCADE_WHY_LAST_TIER;
        return;
    }

    next = NULL;
    over_time = 0;

    for (j = in->tier + 1; j < in->n_tiers; j++) {

        if (in->tiers[j].skip) {
            continue;
        }

        latency = in->tiers[j].latency_ms > 0 ? in->tiers[j].latency_ms : 0;

        if (conf->time_budget_ms > 0
            && in->elapsed_ms + latency > conf->time_budget_ms)
        {
            over_time = 1;
            continue;
        }

        next = &in->tiers[j];
        break;
    }

    if (next == NULL) {
        out->why = over_time ? LLMOPT_CASCADE_WHY_TIME
                             : LLMOPT_CASCADE_WHY_SKIPPED;
        return;
    }

    out->next = j;

    /* the rule: the expected rewards of both, and where they meet */

    out->reward_escalate = llmopt_reward_mix(reward,
        fmin(fmax(next->quality, 0), 1),
        llmopt_reward_cost_term(in->spent + fmax(next->cost, 0),
                                reward->cost_ref),
        llmopt_reward_latency_term(in->elapsed_ms + latency,
                                   reward->latency_ref));

    /*
     * reward_accept is linear in p_good: base + wq p_good, wq the quality
     * weight's share; the threshold is the p_good where the two meet.
     */

    wq = llmopt_reward_mix(reward, 1, 0, 0);
    base = llmopt_reward_mix(reward, 0, ct, lt);

    if (wq > 0) {
        out->threshold = fmin(fmax((out->reward_escalate - base) / wq, 0), 1);

    } else {
        out->threshold = out->reward_escalate > base ? 1 : 0;
    }

    share = llmopt_cascade_forced_share(conf, m->decisions);
    m->decisions++;

    if (out->reward_escalate > out->reward_accept) {
        out->escalate = 1;
        out->why = LLMOPT_CASCADE_WHY_ESCALATE;
        return;
    }

    /* accepted by the rule: a forced escalation with the decaying share */

    out->forced_share = share;

    if (share > 0 && llmopt_rng_uniform(rng) < share) {
        out->escalate = 1;
        out->propensity = share;
        out->why = LLMOPT_CASCADE_WHY_FORCED;
        return;
    }

    out->propensity = 1 - share;
    out->why = LLMOPT_CASCADE_WHY_ACCEPT;
}

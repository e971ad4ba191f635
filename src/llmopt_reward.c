/*
 * Copyright (C) llmopt authors
 */


#include <math.h>
#include <string.h>

#include "llmopt_reward.h"
#include "llmopt_usage.h"


static double llmopt_reward_term(double value, double ref, double fallback);
static double llmopt_reward_weight(double w);
static double llmopt_reward_clamp(double v);


int
llmopt_reward(const llmopt_reward_conf_t *conf, const llmopt_event_t *ev,
    llmopt_reward_t *out)
{
    return llmopt_reward_arm(conf, ev, -1, out);
}


int
llmopt_reward_arm(const llmopt_reward_conf_t *conf, const llmopt_event_t *ev,
    double arm_quality, llmopt_reward_t *out)
{
    int     failed;
    double  q;

    memset(out, 0, sizeof(llmopt_reward_t));

    if (ev->kind != LLMOPT_EVENT_OUTCOME || ev->status == 499) {
        return LLMOPT_DECLINED;
    }

    q = llmopt_reward_proxy(ev->status, ev->finish, ev->flags, &failed);

    if (failed) {
        /*
         * A failed call earns nothing: it usually costs nothing and fails
         * fast, and cost and latency terms would make it look good.
         */
        out->source = LLMOPT_QUALITY_FAILURE;
        return LLMOPT_OK;
    }

    out->source = LLMOPT_QUALITY_PROXY;

    if (ev->quality >= 0) {
        q = ev->quality > 1 ? 1 : ev->quality;
        out->source = LLMOPT_QUALITY_FEEDBACK;

    } else if (conf->unscored != LLMOPT_UNSCORED_NONE) {
        /*
         * The feedback never came.  The proxies would make up a quality
         * (a complete answer counts as 1) that outweighs the scored
         * answers of the other arms; what the answer shows is its cost
         * and latency, and its arm's scored answers what its quality is.
         */
        out->source = LLMOPT_QUALITY_UNSCORED;

        if (conf->unscored == LLMOPT_UNSCORED_OBSERVED && arm_quality >= 0) {
            q = arm_quality > 1 ? 1 : arm_quality;

        } else if (conf->unscored != LLMOPT_UNSCORED_PROXY) {
            return LLMOPT_DECLINED;
        }
    }

    out->quality = q;
    out->cost = llmopt_reward_cost_term(ev->cost, conf->cost_ref);
    out->latency = llmopt_reward_latency_term(ev->latency_ms,
                                              conf->latency_ref);

    out->reward = llmopt_reward_mix(conf, out->quality, out->cost,
                                    out->latency);

    if ((ev->flags & LLMOPT_EVENT_SLO) && conf->slo_penalty > 0
        && conf->slo_penalty <= 1)
    {
        out->reward = llmopt_reward_clamp(out->reward
                                          * (1 - conf->slo_penalty));
    }

    return LLMOPT_OK;
}


double
llmopt_reward_mix(const llmopt_reward_conf_t *conf, double quality,
    double cost, double latency)
{
    double  wq, wc, wl, sum;

    wq = llmopt_reward_weight(conf->quality);
    wc = llmopt_reward_weight(conf->cost);
    wl = llmopt_reward_weight(conf->latency);
    sum = wq + wc + wl;

    if (!(sum > 0) || isinf(sum)) {
        wq = 1;
        wc = 0;
        wl = 0;
        sum = 1;
    }

    return llmopt_reward_clamp((wq * quality + wc * cost + wl * latency)
                               / sum);
}


double
llmopt_reward_cost_term(double cost, double ref)
{
    return llmopt_reward_term(cost, ref, LLMOPT_REWARD_COST_REF);
}


double
llmopt_reward_latency_term(double latency_ms, double ref)
{
    return llmopt_reward_term(latency_ms, ref, LLMOPT_REWARD_LATENCY_REF);
}


double
llmopt_reward_proxy(unsigned status, unsigned finish, unsigned flags,
    int *failed)
{
    *failed = 1;

    if (status < 200 || status > 299
        || (flags & (LLMOPT_EVENT_TIMEOUT|LLMOPT_EVENT_UPSTREAM_ERROR)) != 0)
    {
        return 0;
    }

    *failed = 0;

    switch (finish) {

    case LLMOPT_FINISH_STOP:
    case LLMOPT_FINISH_TOOL:
        return LLMOPT_REWARD_Q_COMPLETE;

    case LLMOPT_FINISH_LENGTH:
        return LLMOPT_REWARD_Q_LENGTH;

    case LLMOPT_FINISH_OTHER:
        return LLMOPT_REWARD_Q_OTHER;

    default:
        return LLMOPT_REWARD_Q_UNSEEN;
    }
}


/*
 * ref / (ref + value) falls smoothly and never reaches 0, so a call 10
 * times the reference still scores better than one 100 times it (1/11
 * against 1/101), where exp(-value / ref) would score both as 0.  At
 * today's prices one request costs from 1e-5 to 1e-1 USD, four orders of
 * magnitude; a term that keeps them ordered over the whole range suits a
 * reference set roughly.
 */

static double
llmopt_reward_term(double value, double ref, double fallback)
{
    if (!(ref > 0) || isinf(ref)) {
        ref = fallback;
    }

    if (!(value >= 0)) {
        return LLMOPT_REWARD_UNKNOWN_TERM;
    }

    if (isinf(value)) {
        return 0;
    }

    return ref / (ref + value);
}


static double
llmopt_reward_weight(double w)
{
    return (w > 0 && !isinf(w)) ? w : 0;
}


static double
llmopt_reward_clamp(double v)
{
    if (!(v >= 0)) {
        return 0;
    }

    return v > 1 ? 1 : v;
}

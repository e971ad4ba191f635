/*
 * Copyright (C) llmopt authors
 *
 * A canary rollout's stages and the gate of a stage (llmopt_canary.h).
 */


#include <stdio.h>
#include <string.h>

#include "llmopt_core.h"
#include "llmopt_hash.h"
#include "llmopt_canary.h"


void
llmopt_canary_add(llmopt_canary_side_t *side, double quality, double cost,
    double latency_ms)
{
    side->n += 1;
    side->quality += quality;
    side->cost += cost > 0 ? cost : 0;

    if (latency_ms >= 0) {
        side->latency_n += 1;
        side->latency += latency_ms;
    }
}


/* a relative rise of b over a; 0 when a is 0 and b too */

static double
llmopt_canary_rise(double a, double b)
{
    if (a > 0) {
        return b / a - 1;
    }

    return b > 0 ? 1e9 : 0;
}


int
llmopt_canary_verdict(const llmopt_canary_conf_t *conf,
    const llmopt_canary_side_t *canary, const llmopt_canary_side_t *control,
    char *why, size_t len)
{
    double  q[2], c[2], l[2], rise;

    why[0] = '\0';

    if (canary->n < (double) conf->min_requests
        || control->n < (double) conf->min_requests)
    {
        return LLMOPT_CANARY_WAIT;
    }

    q[0] = canary->quality / canary->n;
    q[1] = control->quality / control->n;
    c[0] = canary->cost / canary->n;
    c[1] = control->cost / control->n;
    l[0] = canary->latency_n > 0 ? canary->latency / canary->latency_n : 0;
    l[1] = control->latency_n > 0 ? control->latency / control->latency_n : 0;

    if (conf->max_quality_drop >= 0 && q[1] - q[0] > conf->max_quality_drop) {
        (void) snprintf(why, len, "quality %.3f against %.3f, a drop of "
                        "%.3f above %.3f", q[0], q[1], q[1] - q[0],
                        conf->max_quality_drop);
        return LLMOPT_CANARY_ROLLBACK;
    }

    rise = llmopt_canary_rise(c[1], c[0]);

    if (conf->max_cost_rise >= 0 && rise > conf->max_cost_rise) {
        (void) snprintf(why, len, "cost %.6f USD against %.6f, a rise of "
                        "%.0f%% above %.0f%%", c[0], c[1], rise * 100,
                        conf->max_cost_rise * 100);
        return LLMOPT_CANARY_ROLLBACK;
    }

    rise = llmopt_canary_rise(l[1], l[0]);

    if (conf->max_latency_rise >= 0 && canary->latency_n > 0
        && control->latency_n > 0 && rise > conf->max_latency_rise)
    {
        (void) snprintf(why, len, "latency %.0f ms against %.0f, a rise of "
                        "%.0f%% above %.0f%%", l[0], l[1], rise * 100,
                        conf->max_latency_rise * 100);
        return LLMOPT_CANARY_ROLLBACK;
    }

    (void) snprintf(why, len, "quality %.3f against %.3f, cost %.6f USD "
                    "against %.6f, latency %.0f ms against %.0f",
                    q[0], q[1], c[0], c[1], l[0], l[1]);

    return LLMOPT_CANARY_ADVANCE;
}


const char *
llmopt_canary_state_name(unsigned state)
{
    switch (state) {
    case LLMOPT_CANARY_RUNNING:
        return "running";
    case LLMOPT_CANARY_COMPLETE:
        return "complete";
    case LLMOPT_CANARY_ROLLED_BACK:
        return "rolled_back";
    default:
        return "off";
    }
}


uint64_t
llmopt_canary_conf_hash(const llmopt_canary_conf_t *conf, const char *name,
    size_t name_len)
{
    uint64_t  h;

    h = llmopt_hash64(name, name_len, 0x63616e617279ULL);

    return llmopt_hash64(conf, sizeof(llmopt_canary_conf_t), h);
}


void
llmopt_canary_start(llmopt_canary_t *c, const llmopt_canary_conf_t *conf,
    const char *name, size_t name_len, uint64_t now)
{
    uint64_t  h;

    if (conf->arm < 0) {
        c->state = LLMOPT_CANARY_OFF;
        c->conf = 0;
        return;
    }

    h = llmopt_canary_conf_hash(conf, name, name_len);

    if (c->conf == h && c->state != LLMOPT_CANARY_OFF) {
        return;                                /* a reload: it goes on */
    }

    memset(c->side, 0, sizeof(c->side));
    c->why[0] = '\0';
    c->stage = 0;
    c->since_ms = now;
    c->conf = h;
    c->state = conf->n_stages > 1 ? LLMOPT_CANARY_RUNNING
                                  : LLMOPT_CANARY_COMPLETE;
}


int
llmopt_canary_restore(llmopt_canary_t *c, const llmopt_canary_conf_t *conf,
    const llmopt_canary_t *saved)
{
    if (conf->arm < 0
        || saved->conf != c->conf
        || saved->stage >= conf->n_stages
        || saved->state < LLMOPT_CANARY_RUNNING
        || saved->state > LLMOPT_CANARY_ROLLED_BACK)
    {
        return LLMOPT_DECLINED;
    }

    memcpy(c, saved, sizeof(llmopt_canary_t));
    c->why[sizeof(c->why) - 1] = '\0';

    return LLMOPT_OK;
}


double
llmopt_canary_share(const llmopt_canary_t *c,
    const llmopt_canary_conf_t *conf)
{
    uint64_t  state, stage;

    state = c->state;
    stage = c->stage;

    if (conf->arm < 0 || state == LLMOPT_CANARY_OFF) {
        return -1;
    }

    if (state == LLMOPT_CANARY_ROLLED_BACK) {
        return 0;
    }

    return conf->stages[stage < conf->n_stages ? stage : conf->n_stages - 1];
}


int
llmopt_canary_learned(llmopt_canary_t *c, const llmopt_canary_conf_t *conf,
    unsigned arm, double quality, double cost, double latency_ms,
    uint64_t time_ms, uint64_t now)
{
    int       v;
    uint64_t  stage;
    char      why[LLMOPT_CANARY_WHY];

    if (conf->arm < 0 || c->state != LLMOPT_CANARY_RUNNING
        || time_ms < c->since_ms)
    {
        return LLMOPT_CANARY_WAIT;
    }

    llmopt_canary_add(&c->side[arm == (unsigned) conf->arm ? 0 : 1],
                      quality, cost, latency_ms);

    /* the gate writes its reason into a buffer of its own: the last
       gate's stays readable until this one decides */

    v = llmopt_canary_verdict(conf, &c->side[0], &c->side[1], why,
                              sizeof(why));

    if (v == LLMOPT_CANARY_WAIT) {
        return v;
    }

    memcpy(c->why, why, sizeof(why));
    c->changes++;

    if (v == LLMOPT_CANARY_ROLLBACK) {
        c->state = LLMOPT_CANARY_ROLLED_BACK;
        return v;
    }

    stage = c->stage + 1;

    memset(c->side, 0, sizeof(c->side));
    c->since_ms = now;
    c->stage = stage;

    if (stage + 1 >= conf->n_stages) {
        c->state = LLMOPT_CANARY_COMPLETE;
    }

    return v;
}

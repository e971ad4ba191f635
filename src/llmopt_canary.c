/*
 * Copyright (C) llmopt authors
 *
 * The gate of a canary stage (see llmopt_canary.h).
 */


#include <stdio.h>

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

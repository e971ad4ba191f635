/*
 * Copyright (C) llmopt authors
 */


#include <math.h>
#include <string.h>

#include "llmopt_drift.h"


/* Page-Hinkley */

void
llmopt_ph_init(llmopt_ph_t *ph, double delta, double lambda,
    uint64_t min_samples)
{
    memset(ph, 0, sizeof(llmopt_ph_t));

    ph->delta = delta;
    ph->lambda = lambda;
    ph->min_samples = min_samples;
}


int
llmopt_ph_add(llmopt_ph_t *ph, double x)
{
    int  alarm;

    if (x != x) {
        return 0;                       /* NaN: not a value */
    }

    ph->n++;
    ph->mean += (x - ph->mean) / (double) ph->n;

    ph->up += x - ph->mean - ph->delta;
    ph->down += ph->mean - x - ph->delta;

    if (ph->up < ph->up_min) {
        ph->up_min = ph->up;
    }

    if (ph->down < ph->down_min) {
        ph->down_min = ph->down;
    }

    if (ph->n < ph->min_samples) {
        return 0;
    }

    alarm = ph->up - ph->up_min > ph->lambda ? 1
            : ph->down - ph->down_min > ph->lambda ? -1 : 0;

    if (alarm) {
        llmopt_ph_init(ph, ph->delta, ph->lambda, ph->min_samples);
    }

    return alarm;
}


/*
 * ADWIN.  Level k holds buckets of 2^k values each, oldest first; higher
 * levels hold older values.  A bucket is its sum and the sum of squared
 * deviations from its own mean.
 */

static void llmopt_adwin_compress(llmopt_adwin_t *a);
static void llmopt_adwin_drop_oldest(llmopt_adwin_t *a);
static int llmopt_adwin_cut(llmopt_adwin_t *a);


void
llmopt_adwin_init(llmopt_adwin_t *a, double delta, uint64_t min_samples)
{
    memset(a, 0, sizeof(llmopt_adwin_t));

    a->delta = delta;
    a->min_samples = min_samples ? min_samples : 1;
    a->levels = 1;
}


double
llmopt_adwin_mean(const llmopt_adwin_t *a)
{
    return a->width ? a->total / (double) a->width : 0;
}


int
llmopt_adwin_add(llmopt_adwin_t *a, double x)
{
    int     change, c;
    double  mean;

    if (x != x) {
        return 0;
    }

    /* the window's variance sum, updated as one more value joins */

    if (a->width) {
        mean = a->total / (double) a->width;
        a->variance_sum += (double) a->width * (x - mean) * (x - mean)
                           / (double) (a->width + 1);
    }

    a->width++;
    a->total += x;

    a->sum[0][a->count[0]] = x;
    a->var[0][a->count[0]] = 0;
    a->count[0]++;

    llmopt_adwin_compress(a);

    /* checking every value costs O(buckets); every 8th is enough */

    if (++a->seen < 8) {
        return 0;
    }

    a->seen = 0;
    change = 0;

    while ((c = llmopt_adwin_cut(a)) != 0) {
        change = c;
        llmopt_adwin_drop_oldest(a);
    }

    return change;
}


/* More than M buckets of a size: the two oldest become one twice as big. */

static void
llmopt_adwin_compress(llmopt_adwin_t *a)
{
    unsigned  k, n1, n2;
    double    s1, s2, v1, v2, mu1, mu2;

    for (k = 0; k + 1 < LLMOPT_ADWIN_LEVELS; k++) {
        if (a->count[k] <= LLMOPT_ADWIN_M) {
            break;
        }

        n1 = n2 = 1u << k;
        s1 = a->sum[k][0];
        s2 = a->sum[k][1];
        v1 = a->var[k][0];
        v2 = a->var[k][1];
        mu1 = s1 / n1;
        mu2 = s2 / n2;

        memmove(&a->sum[k][0], &a->sum[k][2],
                (a->count[k] - 2) * sizeof(double));
        memmove(&a->var[k][0], &a->var[k][2],
                (a->count[k] - 2) * sizeof(double));
        a->count[k] -= 2;

        a->sum[k + 1][a->count[k + 1]] = s1 + s2;
        a->var[k + 1][a->count[k + 1]] = v1 + v2
            + (double) n1 * n2 / (n1 + n2) * (mu1 - mu2) * (mu1 - mu2);
        a->count[k + 1]++;

        if (k + 2 > a->levels) {
            a->levels = k + 2;
        }
    }

    /* the top level full: its oldest bucket leaves the window, which
       stays bounded however long it runs without a change */

    if (a->count[LLMOPT_ADWIN_LEVELS - 1] > LLMOPT_ADWIN_M) {
        llmopt_adwin_drop_oldest(a);
    }
}


static void
llmopt_adwin_drop_oldest(llmopt_adwin_t *a)
{
    unsigned  k, n;
    double    s, v, mean_rest, mu;

    k = a->levels - 1;

    while (k > 0 && a->count[k] == 0) {
        k--;
    }

    if (a->count[k] == 0) {
        return;
    }

    n = 1u << k;
    s = a->sum[k][0];
    v = a->var[k][0];

    memmove(&a->sum[k][0], &a->sum[k][1], (a->count[k] - 1) * sizeof(double));
    memmove(&a->var[k][0], &a->var[k][1], (a->count[k] - 1) * sizeof(double));
    a->count[k]--;

    while (a->levels > 1 && a->count[a->levels - 1] == 0) {
        a->levels--;
    }

    /* the variance sum of the rest: the reverse of merging */

    a->width -= n;
    a->total -= s;

    if (a->width) {
        mean_rest = a->total / (double) a->width;
        mu = s / n;
        a->variance_sum -= v + (double) n * a->width / (n + a->width)
                               * (mu - mean_rest) * (mu - mean_rest);

        if (a->variance_sum < 0) {
            a->variance_sum = 0;
        }

    } else {
        a->total = 0;
        a->variance_sum = 0;
    }
}


/*
 * Is there a split of the window, oldest part against newest, whose means
 * differ by more than the bound?  Returns the sign of newer - older, or 0.
 */

static int
llmopt_adwin_cut(llmopt_adwin_t *a)
{
    int       k, i;
    double    n0, n1, s0, s1, v, dd, m, eps, diff;

    if (a->width < 2 * a->min_samples) {
        return 0;
    }

    v = a->variance_sum / (double) a->width;
    dd = log(2.0 * log((double) a->width) / a->delta);

    n0 = 0;
    s0 = 0;

    for (k = (int) a->levels - 1; k >= 0; k--) {
        for (i = 0; i < (int) a->count[k]; i++) {
            n0 += (double) (1u << k);
            s0 += a->sum[k][i];
            n1 = (double) a->width - n0;
            s1 = a->total - s0;

            if (n0 < (double) a->min_samples) {
                continue;
            }

            if (n1 < (double) a->min_samples) {
                return 0;
            }

            m = 1.0 / (n0 - a->min_samples + 1)
                + 1.0 / (n1 - a->min_samples + 1);
            eps = sqrt(2.0 * m * v * dd) + 2.0 / 3.0 * dd * m;
            diff = s1 / n1 - s0 / n0;

            if (fabs(diff) > eps) {
                return diff > 0 ? 1 : -1;
            }
        }
    }

    return 0;
}


/* the watch of an arm */

static void
llmopt_drift_watch_restart(llmopt_drift_watch_t *w)
{
    llmopt_ph_init(&w->ph_reward, 0.005, 50, 30);
    llmopt_ph_init(&w->ph_latency, 0.005, 50, 30);
}


void
llmopt_drift_watch_init(llmopt_drift_watch_t *w)
{
    llmopt_drift_watch_restart(w);
    llmopt_adwin_init(&w->adwin_reward, 0.002, 32);
    llmopt_adwin_init(&w->adwin_latency, 0.002, 32);
    w->quiet = 0;
}


double
llmopt_drift_expected(const llmopt_bandit_conf_t *conf, const void *block,
    unsigned arm, const float *x, unsigned d)
{
    double               expected;
    unsigned             i;
    llmopt_bandit_arm_t  view;

    llmopt_bandit_arm(conf, block, arm, &view);

    if (view.theta == NULL) {
        return llmopt_bandit_arm_mean(conf, block, arm);
    }

    expected = 0;

    for (i = 0; i < d && i < conf->d; i++) {
        expected += view.theta[i] * x[i];
    }

    return expected;
}


int
llmopt_drift_watch_add(llmopt_drift_watch_t *w, double surprise,
    double latency_ms, double latency_ref, llmopt_drift_alarm_t *alarm)
{
    int     r1, r2, l1, l2;
    double  lt;

    r1 = llmopt_ph_add(&w->ph_reward, surprise);
    r2 = llmopt_adwin_add(&w->adwin_reward, surprise);

    l1 = l2 = 0;

    if (latency_ms >= 0) {
        lt = latency_ms / latency_ref;
        lt = lt > 10 ? 10 : lt;
        l1 = llmopt_ph_add(&w->ph_latency, lt);
        l2 = llmopt_adwin_add(&w->adwin_latency, lt);
    }

    if (w->quiet) {
        w->quiet--;
        return 0;
    }

    if (r1 || r2) {
        alarm->of = LLMOPT_DRIFT_OF_REWARD;
        alarm->sign = r1 ? r1 : r2;
        alarm->detector = r1 ? "Page-Hinkley" : "ADWIN";

    } else if (l1 || l2) {
        alarm->of = LLMOPT_DRIFT_OF_LATENCY;
        alarm->sign = l1 ? l1 : l2;
        alarm->detector = l1 ? "Page-Hinkley" : "ADWIN";

    } else {
        return 0;
    }

    /* let the detectors settle on what comes next */

    llmopt_drift_watch_restart(w);
    w->quiet = LLMOPT_DRIFT_QUIET;

    return 1;
}


int
llmopt_drift_respond(const llmopt_policy_t *policy, void *block,
    unsigned arm, uint64_t now, uint64_t *explore_until_ms)
{
    switch (policy->drift_response) {

    case LLMOPT_DRIFT_EXPLORE:
        *explore_until_ms = now + policy->drift_explore_ms;
        return 0;

    case LLMOPT_DRIFT_RESET:
        llmopt_bandit_forget_arm(&policy->bandit, block, arm, 0);
        return 1;

    case LLMOPT_DRIFT_FORGET:
        llmopt_bandit_forget_arm(&policy->bandit, block, arm,
                                 policy->drift_keep);
        return 1;

    default:
        return 0;
    }
}


const char *
llmopt_drift_response_words(unsigned response)
{
    switch (response) {
    case LLMOPT_DRIFT_RESET:
        return "its model reset";
    case LLMOPT_DRIFT_FORGET:
        return "its model forgets";
    case LLMOPT_DRIFT_EXPLORE:
        return "the policy explores more for a while";
    default:
        return "no response configured";
    }
}

/*
 * Copyright (C) llmopt authors
 *
 * Change detectors for a stream of values (an arm's rewards, its
 * latencies): Page-Hinkley, which accumulates deviations from the running
 * mean and alarms when they exceed a threshold, and ADWIN, which keeps an
 * adaptive window of the recent values (in an exponential histogram of
 * buckets) and alarms when two parts of it differ by more than chance
 * allows.  Both detect a change either way.  Fixed size, no allocation.
 * Then the watch of an arm that the trainer keeps with them: what it
 * feeds them, what counts as an alarm, and the policy's response to it.
 */

#ifndef _LLMOPT_DRIFT_H_INCLUDED_
#define _LLMOPT_DRIFT_H_INCLUDED_


#include <stdint.h>

#include "llmopt_catalog.h"


/* Page-Hinkley */

typedef struct {
    double      delta;          /* tolerated change of the mean */
    double      lambda;         /* alarm threshold */
    uint64_t    min_samples;    /* no alarm before this many */

    uint64_t    n;
    double      mean;
    double      up, up_min;     /* cumulative deviations, for a rise */
    double      down, down_min; /*   and for a fall */
} llmopt_ph_t;


void llmopt_ph_init(llmopt_ph_t *ph, double delta, double lambda,
    uint64_t min_samples);

/* Adds x; returns 1 (rise) or -1 (fall) on an alarm, which restarts the
   detector, else 0. */
int llmopt_ph_add(llmopt_ph_t *ph, double x);


/* ADWIN: at most LLMOPT_ADWIN_M buckets of each size 2^k */

#define LLMOPT_ADWIN_M        5
#define LLMOPT_ADWIN_LEVELS   32

typedef struct {
    double      delta;          /* confidence: false alarms about delta */
    uint64_t    min_samples;    /* per side of a cut */

    uint64_t    width;          /* values in the window */
    double      total;
    double      variance_sum;   /* of the window, for the bound */

    unsigned    count[LLMOPT_ADWIN_LEVELS];      /* buckets per level */
    double      sum[LLMOPT_ADWIN_LEVELS][LLMOPT_ADWIN_M + 1];
    double      var[LLMOPT_ADWIN_LEVELS][LLMOPT_ADWIN_M + 1];
    unsigned    levels;
    uint64_t    seen;           /* values since the last check */
} llmopt_adwin_t;


void llmopt_adwin_init(llmopt_adwin_t *a, double delta, uint64_t min_samples);

/*
 * Adds x; on a change it drops the older part of the window and returns
 * 1 when the recent mean is higher, -1 when lower, else 0.
 */
int llmopt_adwin_add(llmopt_adwin_t *a, double x);

/* The mean of the current window (0 when empty). */
double llmopt_adwin_mean(const llmopt_adwin_t *a);


/*
 * The watch of one arm of a policy: Page-Hinkley and ADWIN on the
 * surprise of its rewards (the reward less what the arm's model expected
 * for the context: a policy sending other prompts to an arm is not a
 * change of the arm) and on its latencies (in units of the policy's
 * latency_ref, at most 10).  An alarm restarts the Page-Hinkley pair and
 * makes the watch deaf for the next LLMOPT_DRIFT_QUIET answers, which it
 * still learns from, so that the detectors settle on what comes next.
 * Plain memory, one writer (the trainer).
 */

#define LLMOPT_DRIFT_QUIET      100

#define LLMOPT_DRIFT_OF_REWARD  0       /* what an alarm is about */
#define LLMOPT_DRIFT_OF_LATENCY 1

typedef struct {
    llmopt_ph_t           ph_reward;
    llmopt_adwin_t        adwin_reward;
    llmopt_ph_t           ph_latency;
    llmopt_adwin_t        adwin_latency;
    unsigned              quiet;        /* answers to ignore alarms of */
} llmopt_drift_watch_t;

typedef struct {
    unsigned              of;           /* LLMOPT_DRIFT_OF_* */
    int                   sign;         /* 1: rose, -1: fell */
    const char           *detector;     /* "Page-Hinkley" or "ADWIN" */
} llmopt_drift_alarm_t;


void llmopt_drift_watch_init(llmopt_drift_watch_t *w);

/*
 * What the arm's model in block expected for context x (d values; any
 * beyond conf->d are ignored): the linear estimate, or the arm's mean for
 * algorithms without a context.
 */
double llmopt_drift_expected(const llmopt_bandit_conf_t *conf,
    const void *block, unsigned arm, const float *x, unsigned d);

/*
 * One answer of the arm: the surprise of its reward and its latency ms
 * (< 0: unknown, not fed) against latency_ref ms.  1 and *alarm filled on
 * an alarm (of the reward first, Page-Hinkley before ADWIN), which
 * restarts the watch's quiet spell; else 0.
 */
int llmopt_drift_watch_add(llmopt_drift_watch_t *w, double surprise,
    double latency_ms, double latency_ref, llmopt_drift_alarm_t *alarm);

/*
 * The policy's response (its drift_response) to an alarm of arm at now
 * (ms): with "explore", *explore_until_ms is set to when its boost ends;
 * with "reset" or "forget", the arm's record in block forgets (all or
 * what drift_keep does not keep): 1 then, the block changed; else 0.
 */
int llmopt_drift_respond(const llmopt_policy_t *policy, void *block,
    unsigned arm, uint64_t now, uint64_t *explore_until_ms);

/* The log's words for a policy's drift_response. */
const char *llmopt_drift_response_words(unsigned response);


#endif /* _LLMOPT_DRIFT_H_INCLUDED_ */

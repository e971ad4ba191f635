/*
 * Copyright (C) llmopt authors
 *
 * The reward: terms, proxies, weights and hostile numbers.
 */


#include <math.h>
#include <string.h>

#include "tap.h"
#include "llmopt_reward.h"
#include "llmopt_usage.h"


#define EPS  1e-12


static void test_event(llmopt_event_t *ev, unsigned status, unsigned finish,
    double cost, double latency_ms);
static void test_terms(void);
static void test_proxy(void);
static void test_reward(void);
static void test_weights(void);
static void test_prices(void);
static void test_hostile(void);
static void test_unscored(void);


static const llmopt_reward_conf_t  test_conf = {
    0.6, 0.3, 0.1, 0.01, 2000, 0, LLMOPT_UNSCORED_NONE
};


int
main(void)
{
    test_terms();
    test_proxy();
    test_reward();
    test_weights();
    test_prices();
    test_hostile();
    test_unscored();

    return tap_done();
}


static void
test_event(llmopt_event_t *ev, unsigned status, unsigned finish,
    double cost, double latency_ms)
{
    memset(ev, 0, sizeof(llmopt_event_t));

    ev->kind = LLMOPT_EVENT_OUTCOME;
    ev->status = (uint16_t) status;
    ev->finish = (uint8_t) finish;
    ev->cost = cost;
    ev->latency_ms = (float) latency_ms;
    ev->quality = -1;
    ev->ttft_ms = -1;
}


static void
test_terms(void)
{
    is_num(llmopt_reward_cost_term(0, 0.01), 1, EPS, "cost 0 scores 1");
    is_num(llmopt_reward_cost_term(0.01, 0.01), 0.5, EPS,
           "cost at the reference scores 0.5");
    is_num(llmopt_reward_cost_term(0.03, 0.01), 0.25, EPS,
           "3x the reference scores 0.25");
    is_num(llmopt_reward_cost_term(0.0025, 0.01), 0.8, EPS,
           "a quarter of the reference scores 0.8");
    ok(llmopt_reward_cost_term(0.1, 0.01) > llmopt_reward_cost_term(1, 0.01),
       "10x still beats 100x the reference");
    ok(llmopt_reward_cost_term(1, 0.01) > 0, "100x is not 0");
    is_num(llmopt_reward_cost_term(NAN, 0.01), LLMOPT_REWARD_UNKNOWN_TERM,
           EPS, "NaN cost is unknown");
    is_num(llmopt_reward_cost_term(-1, 0.01), LLMOPT_REWARD_UNKNOWN_TERM,
           EPS, "negative cost is unknown");
    is_num(llmopt_reward_cost_term(-INFINITY, 0.01),
           LLMOPT_REWARD_UNKNOWN_TERM, EPS, "-inf cost is unknown");
    is_num(llmopt_reward_cost_term(INFINITY, 0.01), 0, EPS,
           "infinite cost scores 0");
    ok(llmopt_reward_cost_term(1e300, 0.01) >= 0
       && llmopt_reward_cost_term(1e300, 0.01) < 1e-300,
       "huge cost scores about 0");
    is_num(llmopt_reward_cost_term(1e300, 1e300), 0.5, EPS,
           "huge cost at a huge reference");

    is_num(llmopt_reward_cost_term(0.01, 0), 0.5, EPS,
           "reference 0 falls back to the default");
    is_num(llmopt_reward_cost_term(0.01, -5), 0.5, EPS,
           "negative reference falls back");
    is_num(llmopt_reward_cost_term(0.01, NAN), 0.5, EPS,
           "NaN reference falls back");
    is_num(llmopt_reward_cost_term(0.01, INFINITY), 0.5, EPS,
           "infinite reference falls back");

    is_num(llmopt_reward_latency_term(0, 2000), 1, EPS, "latency 0 scores 1");
    is_num(llmopt_reward_latency_term(2000, 2000), 0.5, EPS,
           "latency at the reference scores 0.5");
    is_num(llmopt_reward_latency_term(500, 2000), 0.8, EPS,
           "500 ms of 2000 scores 0.8");
    is_num(llmopt_reward_latency_term(8000, 2000), 0.2, EPS,
           "8 s of 2 s scores 0.2");
    is_num(llmopt_reward_latency_term(2000, 0), 0.5, EPS,
           "latency reference 0 falls back to 2000 ms");
    is_num(llmopt_reward_latency_term(NAN, 2000), LLMOPT_REWARD_UNKNOWN_TERM,
           EPS, "NaN latency is unknown");
    is_num(llmopt_reward_latency_term(-1, 2000), LLMOPT_REWARD_UNKNOWN_TERM,
           EPS, "latency -1 is unknown");
    is_num(llmopt_reward_latency_term(INFINITY, 2000), 0, EPS,
           "infinite latency scores 0");
}


static void
test_proxy(void)
{
    int  failed;

    is_num(llmopt_reward_proxy(200, LLMOPT_FINISH_STOP, 0, &failed), 1, EPS,
           "200 stop: 1");
    is_int(failed, 0, "200 stop is no failure");
    is_num(llmopt_reward_proxy(200, LLMOPT_FINISH_TOOL, 0, &failed), 1, EPS,
           "200 tool call: 1");
    is_num(llmopt_reward_proxy(201, LLMOPT_FINISH_STOP, 0, &failed), 1, EPS,
           "201 stop: 1");
    is_num(llmopt_reward_proxy(200, LLMOPT_FINISH_LENGTH, 0, &failed), 0.5,
           EPS, "200 length: 0.5");
    is_num(llmopt_reward_proxy(200, LLMOPT_FINISH_OTHER, 0, &failed), 0.25,
           EPS, "200 content filter: 0.25");
    is_num(llmopt_reward_proxy(200, LLMOPT_FINISH_NONE, 0, &failed), 0.5,
           EPS, "200 without finish reason: 0.5");
    is_num(llmopt_reward_proxy(200, 77, 0, &failed), 0.5, EPS,
           "200 with an unknown finish value: 0.5");
    is_int(failed, 0, "and no failure");
    is_num(llmopt_reward_proxy(200, LLMOPT_FINISH_STOP,
                               LLMOPT_EVENT_EXPLORE|LLMOPT_EVENT_STREAM,
                               &failed),
           1, EPS, "explore and stream flags do not matter");

    is_num(llmopt_reward_proxy(429, LLMOPT_FINISH_NONE, 0, &failed), 0, EPS,
           "429: 0");
    is_int(failed, 1, "429 is a failure");
    llmopt_reward_proxy(500, 0, 0, &failed);
    is_int(failed, 1, "500 is a failure");
    llmopt_reward_proxy(502, 0, 0, &failed);
    is_int(failed, 1, "502 is a failure");
    llmopt_reward_proxy(503, 0, 0, &failed);
    is_int(failed, 1, "503 is a failure");
    llmopt_reward_proxy(504, 0, 0, &failed);
    is_int(failed, 1, "504 is a failure");
    llmopt_reward_proxy(0, 0, 0, &failed);
    is_int(failed, 1, "no response is a failure");
    llmopt_reward_proxy(400, 0, 0, &failed);
    is_int(failed, 1, "400 is a failure");
    llmopt_reward_proxy(404, 0, 0, &failed);
    is_int(failed, 1, "404 (model unknown upstream) is a failure");
    llmopt_reward_proxy(302, 0, 0, &failed);
    is_int(failed, 1, "302 is a failure");
    llmopt_reward_proxy(199, 0, 0, &failed);
    is_int(failed, 1, "199 is a failure");
    llmopt_reward_proxy(300, 0, 0, &failed);
    is_int(failed, 1, "300 is a failure");
    is_num(llmopt_reward_proxy(200, LLMOPT_FINISH_STOP, LLMOPT_EVENT_TIMEOUT,
                               &failed),
           0, EPS, "200 then timeout: 0");
    is_int(failed, 1, "timeout flag is a failure");
    llmopt_reward_proxy(200, LLMOPT_FINISH_STOP, LLMOPT_EVENT_UPSTREAM_ERROR,
                        &failed);
    is_int(failed, 1, "error object in a 200 stream is a failure");
}


static void
test_reward(void)
{
    llmopt_event_t   ev;
    llmopt_reward_t  rw;

    test_event(&ev, 200, LLMOPT_FINISH_STOP, 0.01, 2000);
    is_int(llmopt_reward(&test_conf, &ev, &rw), LLMOPT_OK, "reward ok");
    is_num(rw.reward, 0.6 + 0.15 + 0.05, EPS, "stop at both references: 0.8");
    is_num(rw.quality, 1, EPS, "quality part 1");
    is_num(rw.cost, 0.5, EPS, "cost part 0.5");
    is_num(rw.latency, 0.5, EPS, "latency part 0.5");
    is_int(rw.source, LLMOPT_QUALITY_PROXY, "source: proxy");

    ev.quality = 0.2f;
    (void) llmopt_reward(&test_conf, &ev, &rw);
    is_num(rw.reward, 0.6 * 0.2 + 0.15 + 0.05, 1e-7, "explicit quality 0.2");
    is_int(rw.source, LLMOPT_QUALITY_FEEDBACK, "source: feedback");

    ev.quality = 0;
    (void) llmopt_reward(&test_conf, &ev, &rw);
    is_num(rw.reward, 0.2, EPS, "explicit quality 0 is a score, not unknown");

    ev.quality = 1.7f;
    (void) llmopt_reward(&test_conf, &ev, &rw);
    is_num(rw.quality, 1, EPS, "quality above 1 clamps to 1");

    ev.quality = INFINITY;
    (void) llmopt_reward(&test_conf, &ev, &rw);
    is_num(rw.quality, 1, EPS, "infinite quality clamps to 1");

    ev.quality = NAN;
    (void) llmopt_reward(&test_conf, &ev, &rw);
    is_int(rw.source, LLMOPT_QUALITY_PROXY, "NaN quality: proxy used");
    is_num(rw.quality, 1, EPS, "NaN quality: stop proxy 1");

    ev.quality = -1;
    ev.finish = LLMOPT_FINISH_LENGTH;
    (void) llmopt_reward(&test_conf, &ev, &rw);
    is_num(rw.reward, 0.3 + 0.15 + 0.05, EPS, "length at references: 0.5");

    ev.quality = 0.9f;
    ev.status = 503;
    is_int(llmopt_reward(&test_conf, &ev, &rw), LLMOPT_OK, "failure scored");
    is_num(rw.reward, 0, EPS, "503 earns 0 even with a quality score");
    is_num(rw.cost + rw.latency + rw.quality, 0, EPS,
           "and every part is 0");
    is_int(rw.source, LLMOPT_QUALITY_FAILURE, "source: failure");

    test_event(&ev, 429, LLMOPT_FINISH_NONE, 0, 5);
    (void) llmopt_reward(&test_conf, &ev, &rw);
    is_num(rw.reward, 0, EPS, "a free, fast 429 earns 0");

    test_event(&ev, 499, LLMOPT_FINISH_NONE, 0.01, 300);
    rw.reward = 42;
    is_int(llmopt_reward(&test_conf, &ev, &rw), LLMOPT_DECLINED,
           "499: client went away, declined");
    is_num(rw.reward, 0, EPS, "declined reward zeroed");

    test_event(&ev, 200, LLMOPT_FINISH_STOP, 0.01, 300);
    ev.kind = LLMOPT_EVENT_FEEDBACK;
    is_int(llmopt_reward(&test_conf, &ev, &rw), LLMOPT_DECLINED,
           "a feedback event has no reward of its own");
    ev.kind = LLMOPT_EVENT_NONE;
    is_int(llmopt_reward(&test_conf, &ev, &rw), LLMOPT_DECLINED,
           "an empty event is declined");

    test_event(&ev, 200, LLMOPT_FINISH_STOP, -1, NAN);
    (void) llmopt_reward(&test_conf, &ev, &rw);
    is_num(rw.reward, 0.6 + 0.15 + 0.05, 1e-7,
           "unknown cost and latency score as at the references");
}


static void
test_weights(void)
{
    llmopt_event_t        ev;
    llmopt_reward_t       a, b;
    llmopt_reward_conf_t  conf;

    test_event(&ev, 200, LLMOPT_FINISH_LENGTH, 0.002, 700);

    conf = test_conf;
    conf.quality = 3;
    conf.cost = 2;
    conf.latency = 1;
    (void) llmopt_reward(&conf, &ev, &a);

    conf.quality = 0.5;
    conf.cost = 1.0 / 3;
    conf.latency = 1.0 / 6;
    (void) llmopt_reward(&conf, &ev, &b);

    is_num(a.reward, b.reward, 1e-12, "weights are normalised: 3:2:1");

    conf.slo_penalty = 0.4;
    ev.flags = LLMOPT_EVENT_SLO;
    (void) llmopt_reward(&conf, &ev, &a);
    is_num(a.reward, b.reward * 0.6, 1e-12, "an SLO breach takes 40 %% off");
    conf.slo_penalty = 0;
    (void) llmopt_reward(&conf, &ev, &a);
    is_num(a.reward, b.reward, 1e-12, "... no penalty, nothing");
    conf.slo_penalty = 0.4;
    ev.flags = 0;

    conf.quality = 0;
    conf.cost = 0;
    conf.latency = 0;
    (void) llmopt_reward(&conf, &ev, &a);
    is_num(a.reward, 0.5, EPS, "all weights 0: quality alone");

    conf.quality = NAN;
    conf.cost = -1;
    conf.latency = INFINITY;
    (void) llmopt_reward(&conf, &ev, &a);
    is_num(a.reward, 0.5, EPS, "NaN, negative, infinite weights: quality");

    conf.quality = -2;
    conf.cost = 1;
    conf.latency = NAN;
    (void) llmopt_reward(&conf, &ev, &a);
    is_num(a.reward, 0.01 / 0.012, 1e-12, "negative weight is 0: cost alone");

    conf.quality = 0;
    conf.cost = 0;
    conf.latency = 1;
    (void) llmopt_reward(&conf, &ev, &a);
    is_num(a.reward, 2000.0 / 2700, 1e-7, "latency alone");

    conf.quality = 1e308;
    conf.cost = 1e308;
    conf.latency = 0;
    (void) llmopt_reward(&conf, &ev, &a);
    ok(a.reward >= 0 && a.reward <= 1, "weights that overflow stay in range");
}


/*
 * Prices of the catalog example (USD per 1M tokens: input, output), a
 * typical chat call of 1500 prompt and 400 completion tokens.  The cost is
 * computed as llmopt_model_cost() does.
 */

static void
test_prices(void)
{
    double                cheap, dear;
    llmopt_event_t        ev;
    llmopt_reward_t       a, b;

    cheap = (1500 * 0.15 + 400 * 0.60) / 1e6;
    dear = (1500 * 2.50 + 400 * 10.00) / 1e6;

    test_event(&ev, 200, LLMOPT_FINISH_STOP, cheap, 1200);
    (void) llmopt_reward(&test_conf, &ev, &a);
    test_event(&ev, 200, LLMOPT_FINISH_STOP, dear, 1200);
    (void) llmopt_reward(&test_conf, &ev, &b);

    printf("# gpt-4o-mini %.6f USD -> %.4f, gpt-4o %.6f USD -> %.4f\n",
           cheap, a.reward, dear, b.reward);

    ok(a.reward - b.reward > 0.1,
       "same quality: the 16x cheaper model wins by more than 0.1");

    test_event(&ev, 200, LLMOPT_FINISH_LENGTH, cheap, 1200);
    (void) llmopt_reward(&test_conf, &ev, &a);
    ok(a.reward < b.reward,
       "a truncated cheap answer loses to a complete dear one");
}


static void
test_hostile(void)
{
    unsigned              i, j, k, bad;
    llmopt_event_t        ev;
    llmopt_reward_t       rw;
    llmopt_reward_conf_t  conf;

    static const double  values[] = {
        0, 1e-300, 0.5, 1, 2000, 1e300, -1, -1e300, NAN, INFINITY, -INFINITY
    };
    static const unsigned  statuses[] = { 0, 200, 206, 429, 499, 500, 65535 };

    bad = 0;
    conf = test_conf;

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        for (j = 0; j < sizeof(values) / sizeof(values[0]); j++) {
            for (k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++) {
                test_event(&ev, statuses[k], (i + j) % 6, values[i],
                           values[j]);
                ev.quality = (float) values[(i + k) % 11];
                ev.flags = (uint8_t) (i * j);
                conf.quality = values[j];
                conf.cost = values[k % 11];
                conf.latency = values[i];
                conf.cost_ref = values[(j + k) % 11];
                conf.latency_ref = values[(i + k) % 11];

                if (llmopt_reward(&conf, &ev, &rw) == LLMOPT_DECLINED) {
                    if (statuses[k] != 499 || rw.reward != 0) {
                        bad++;
                    }

                    continue;
                }

                if (!(rw.reward >= 0 && rw.reward <= 1)
                    || !(rw.quality >= 0 && rw.quality <= 1)
                    || !(rw.cost >= 0 && rw.cost <= 1)
                    || !(rw.latency >= 0 && rw.latency <= 1))
                {
                    bad++;
                }
            }
        }
    }

    is_int(bad, 0, "847 hostile combinations: every number in [0, 1]");
}


/*
 * A policy that waits for feedback: an answer whose feedback never came
 * is not scored with a made-up quality.
 */

static void
test_unscored(void)
{
    llmopt_event_t        ev;
    llmopt_reward_t       rw;
    llmopt_reward_conf_t  conf;

    conf = test_conf;

    /* a policy that waits for no feedback: nothing is unscored */

    test_event(&ev, 200, LLMOPT_FINISH_STOP, 0.01, 2000);
    is_int(llmopt_reward_arm(&conf, &ev, 0.2, &rw), LLMOPT_OK,
           "no wait: learned");
    is_num(rw.quality, 1, EPS, "no wait: the finish reason's quality, 1");
    is_int(rw.source, LLMOPT_QUALITY_PROXY, "no wait: source proxy");

    /* proxy: unscored, scored by the proxies as before */

    conf.unscored = LLMOPT_UNSCORED_PROXY;

    is_int(llmopt_reward_arm(&conf, &ev, 0.2, &rw), LLMOPT_OK,
           "proxy: learned");
    is_num(rw.quality, 1, EPS, "proxy: the finish reason's quality, 1");
    is_int(rw.source, LLMOPT_QUALITY_UNSCORED, "proxy: source unscored");
    is_int(llmopt_reward_arm(&conf, &ev, -1, &rw), LLMOPT_OK,
           "proxy: learned without an arm quality too");

    /* observed: cost and latency as they were, the arm's scored quality */

    conf.unscored = LLMOPT_UNSCORED_OBSERVED;

    is_int(llmopt_reward_arm(&conf, &ev, 0.2, &rw), LLMOPT_OK,
           "observed: learned when the arm has scored answers");
    is_num(rw.quality, 0.2, EPS, "observed: the arm's scored quality, 0.2");
    is_num(rw.cost, 0.5, EPS, "observed: its own cost term");
    is_num(rw.latency, 0.5, EPS, "observed: its own latency term");
    is_num(rw.reward, 0.6 * 0.2 + 0.15 + 0.05, EPS,
           "observed: 0.6 * 0.2 + 0.15 + 0.05");
    is_int(rw.source, LLMOPT_QUALITY_UNSCORED, "observed: source unscored");

    test_event(&ev, 200, LLMOPT_FINISH_LENGTH, 0.01, 2000);
    (void) llmopt_reward_arm(&conf, &ev, 0.8, &rw);
    is_num(rw.quality, 0.8, EPS,
           "observed: the finish reason makes up no quality either");

    (void) llmopt_reward_arm(&conf, &ev, 3, &rw);
    is_num(rw.quality, 1, EPS, "observed: an arm quality above 1 counts 1");

    rw.reward = 42;
    is_int(llmopt_reward_arm(&conf, &ev, -1, &rw), LLMOPT_DECLINED,
           "observed: declined while the arm has no scored answer");
    is_int(rw.source, LLMOPT_QUALITY_UNSCORED, "... counted as unscored");
    is_num(rw.reward, 0, EPS, "... and the rest zeroed");
    is_int(llmopt_reward_arm(&conf, &ev, NAN, &rw), LLMOPT_DECLINED,
           "observed: a NaN arm quality is none");
    is_int(llmopt_reward(&conf, &ev, &rw), LLMOPT_DECLINED,
           "llmopt_reward() knows no arm quality: declined");

    ev.quality = 0.9f;
    is_int(llmopt_reward_arm(&conf, &ev, 0.1, &rw), LLMOPT_OK,
           "observed: a scored answer is learned");
    is_num(rw.quality, 0.9, 1e-7, "... with its own score");
    is_int(rw.source, LLMOPT_QUALITY_FEEDBACK, "... source feedback");

    test_event(&ev, 503, LLMOPT_FINISH_NONE, 0, 5);
    is_int(llmopt_reward_arm(&conf, &ev, -1, &rw), LLMOPT_OK,
           "observed: a failure is learned, score or not");
    is_int(rw.source, LLMOPT_QUALITY_FAILURE, "... as a failure");
    is_num(rw.reward, 0, EPS, "... earning 0");

    test_event(&ev, 499, LLMOPT_FINISH_NONE, 0.01, 300);
    is_int(llmopt_reward_arm(&conf, &ev, 0.5, &rw), LLMOPT_DECLINED,
           "observed: 499 still declined");
    is_int(rw.source, 0, "... and not counted as unscored");

    /* skip: nothing but failures and scores */

    conf.unscored = LLMOPT_UNSCORED_SKIP;

    test_event(&ev, 200, LLMOPT_FINISH_STOP, 0.01, 2000);
    is_int(llmopt_reward_arm(&conf, &ev, 0.7, &rw), LLMOPT_DECLINED,
           "skip: declined, whatever the arm's quality");
    is_int(rw.source, LLMOPT_QUALITY_UNSCORED, "skip: counted as unscored");

    ev.quality = 0.4f;
    is_int(llmopt_reward_arm(&conf, &ev, -1, &rw), LLMOPT_OK,
           "skip: a scored answer is learned");

    test_event(&ev, 429, LLMOPT_FINISH_NONE, 0, 5);
    is_int(llmopt_reward_arm(&conf, &ev, -1, &rw), LLMOPT_OK,
           "skip: a failure is learned");
    is_int(rw.source, LLMOPT_QUALITY_FAILURE, "... as a failure");
}

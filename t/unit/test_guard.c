/*
 * Copyright (C) llmopt authors
 *
 * Guardrails before a request is sent: the tokens it needs, its estimated
 * cost, and the arms a policy's context windows and max_cost allow.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"
#include "llmopt_guard.h"


static const char  catalog_text[] =
    "models:\n"
    "  small: {upstream: u, price: {input: 0.1, output: 0.4},"
    " context_window: 1000}\n"
    "  big: {upstream: u, price: {input: 10, output: 30},"
    " context_window: 100000}\n"
    "  free: {upstream: u, price: {input: 0, output: 0}}\n"
    "policies:\n"
    "  p:\n"
    "    algorithm: linucb\n"
    "    arms: [small, big, free]\n"
    "    max_cost: 0.05\n"
    "    breaker: {failures: 3, cooldown: 2000, error_rate: 0.25,\n"
    "              window: 5000, min_requests: 8}\n"
    "    drift: {response: forget, keep: 0.1, explore: 0.3,"
    " explore_for: 5000}\n"
    "    latency_slo: 1500\n"
    "    latency_slo_action: penalise\n"
    "    latency_slo_penalty: 0.3\n"
    "  q:\n"
    "    algorithm: ucb1\n"
    "    arms: [small]\n"
    "    breaker: {failures: 0}\n";


int
main(void)
{
    unsigned              n, why;
    unsigned char         allowed[3];
    llmopt_err_t          err;
    llmopt_catalog_t      cat;
    llmopt_request_t      req;
    llmopt_guard_need_t   need;
    const llmopt_policy_t *p, *q;

    memset(&err, 0, sizeof(err));
    is_int(llmopt_catalog_load_string(&cat, "t.yaml", catalog_text,
                                      sizeof(catalog_text) - 1,
                                      &test_allocator, &err),
           LLMOPT_OK, "catalog loads: %s", err.msg);

    p = llmopt_catalog_policy(&cat, "p", 1);
    q = llmopt_catalog_policy(&cat, "q", 1);
    is_num(p->max_cost, 0.05, 0, "max_cost read");
    is_int(p->breaker_failures, 3, "breaker failures read");
    is_int(p->breaker_cooldown_ms, 2000, "breaker cooldown read");
    is_int(q->breaker_failures, 0, "breaker off");
    is_int(q->breaker_cooldown_ms, 30000, "default cooldown");
    is_num(p->breaker_error_rate, 0.25, 0, "breaker error_rate read");
    is_int(p->breaker_window_ms, 5000, "breaker window read");
    is_int(p->breaker_min_requests, 8, "breaker min_requests read");
    is_num(q->breaker_error_rate, 0, 0, "no error_rate: that trigger off");
    is_int(q->breaker_window_ms, 10000, "default window");
    is_int(q->breaker_min_requests, 20, "default min_requests");
    is_num(q->max_cost, 0, 0, "no max_cost");
    is_int(p->drift_response, LLMOPT_DRIFT_FORGET, "drift response forget");
    is_num(p->drift_keep, 0.1, 0, "drift keep");
    is_num(p->drift_explore, 0.3, 0, "drift explore share");
    is_int(p->drift_explore_ms, 5000, "drift explore_for");
    is_num(q->drift_explore, 0.2, 0, "default explore share");
    is_int(q->drift_explore_ms, 60000, "default explore_for");
    is_int(p->latency_slo_ms, 1500, "latency_slo read");
    is_int(q->latency_slo_ms, 0, "no latency_slo");
    is_int(p->latency_slo_penalise, 1, "latency_slo_action penalise");
    is_num(p->reward.slo_penalty, 0.3, 0, "latency_slo_penalty read");
    is_int(q->latency_slo_penalise, 0, "default: exclude");
    is_num(q->reward.slo_penalty, 0.5, 0, "default penalty 0.5");
    is_int(q->drift_response, LLMOPT_DRIFT_NONE, "drift: detect only");

    memset(&req, 0, sizeof(req));
    req.text_bytes = 401;
    req.max_tokens = -1;
    llmopt_guard_need(&req, &need);
    is_int(need.input_tokens, 101, "401 bytes: 101 tokens (rounded up)");
    is_int(need.output_tokens, 0, "no max_tokens: 0 out");

    req.max_tokens = 500;
    llmopt_guard_need(&req, &need);
    is_num(llmopt_guard_cost(&cat.models[1], &need),
           (101 * 10.0 + 500 * 30.0) / 1e6, 1e-12, "cost at list prices");

    n = llmopt_guard_mask(&cat, p, &need, allowed, &why);
    is_int(n, 3, "601 tokens, $0.016: all three fit");
    is_int(why, 0, "nothing left out");

    req.max_tokens = 1000;
    llmopt_guard_need(&req, &need);
    n = llmopt_guard_mask(&cat, p, &need, allowed, &why);
    is_int(n, 2, "1101 tokens: the small one is out");
    is_int(allowed[0], 0, "... small");
    is_int(allowed[1], 1, "... big stays ($0.031)");
    is_int(why, LLMOPT_GUARD_CONTEXT, "... for its context window");

    req.max_tokens = 2000;
    llmopt_guard_need(&req, &need);
    n = llmopt_guard_mask(&cat, p, &need, allowed, &why);
    is_int(n, 1, "2101 tokens, big costs $0.061: only free is left");
    is_int(allowed[2], 1, "... free (no window stated, no price)");
    is_int(why, LLMOPT_GUARD_CONTEXT | LLMOPT_GUARD_COST, "... both reasons");

    req.text_bytes = 4000000;
    llmopt_guard_need(&req, &need);
    n = llmopt_guard_mask(&cat, q, &need, allowed, &why);
    is_int(n, 0, "a million tokens fit no arm of q");

    {
        float     v[100], tmp[100];
        unsigned  i;

        for (i = 0; i < 100; i++) {
            v[i] = (float) ((i * 37) % 100 + 1);    /* 1..100, shuffled */
        }

        is_num(llmopt_guard_p95(v, 100, tmp), 95, 0, "p95 of 1..100: 95");
        is_num(llmopt_guard_p95(v, 1, tmp), v[0], 0, "p95 of one value");
        is_num(llmopt_guard_p95(v, 0, tmp), 0, 0, "p95 of none: 0");
    }

    test_free_all();

    return tap_done();
}

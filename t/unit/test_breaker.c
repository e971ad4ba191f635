/*
 * Copyright (C) llmopt authors
 *
 * The circuit breaker's rules (llmopt_breaker.h): failures in a row, the
 * error rate, Retry-After, the half-open probe's success and failure, an
 * open circuit only lengthened.
 */

#include <string.h>

#include "tap.h"
#include "test_alloc.h"
#include "llmopt_breaker.h"


static const char  catalog_text[] =
    "models:\n"
    "  a: {upstream: u, price: {input: 1, output: 1}}\n"
    "policies:\n"
    "  p:\n"
    "    algorithm: ucb1\n"
    "    arms: [a]\n"
    "    breaker: {failures: 3, cooldown: 2000, error_rate: 0.5,\n"
    "              window: 5000, min_requests: 10}\n";


int
main(void)
{
    int                     rc;
    uint64_t                until;
    unsigned                why;
    llmopt_err_t            err;
    llmopt_catalog_t        cat;
    llmopt_breaker_seen_t   seen;
    const llmopt_policy_t  *p;

    memset(&err, 0, sizeof(err));
    is_int(llmopt_catalog_load_string(&cat, "t.yaml", catalog_text,
                                      sizeof(catalog_text) - 1,
                                      &test_allocator, &err),
           LLMOPT_OK, "catalog loads: %s", err.msg);
    p = llmopt_catalog_policy(&cat, "p", 1);

    is_str(llmopt_breaker_state(0, 100), "closed", "0: closed");
    is_str(llmopt_breaker_state(200, 100), "open", "before the end: open");
    is_str(llmopt_breaker_state(200, 200), "half_open", "at the end: half");

    memset(&seen, 0, sizeof(seen));

    /* failures in a row */

    seen.failures = 2;
    rc = llmopt_breaker_next(p, &seen, 1, 0, 1000, &until, &why);
    is_int(rc, LLMOPT_BREAKER_KEEP, "2 failures in a row: closed");

    seen.failures = 3;
    rc = llmopt_breaker_next(p, &seen, 1, 0, 1000, &until, &why);
    is_int(rc, LLMOPT_BREAKER_OPEN, "3 in a row: open");
    is_int(until, 3000, "for the cooldown");
    is_int(why, LLMOPT_BREAKER_IN_A_ROW, "why: in a row");
    is_str(llmopt_breaker_why(why), "failures in a row", "its words");

    rc = llmopt_breaker_next(p, &seen, 0, 0, 1000, &until, &why);
    is_int(rc, LLMOPT_BREAKER_KEEP, "a good answer of a closed circuit");

    /* the error rate, once the window has min_requests */

    seen.failures = 1;
    seen.window_n = 9;
    seen.window_f = 9;
    rc = llmopt_breaker_next(p, &seen, 1, 0, 1000, &until, &why);
    is_int(rc, LLMOPT_BREAKER_KEEP, "9 answers: too few for the rate");

    seen.window_n = 10;
    seen.window_f = 4;
    rc = llmopt_breaker_next(p, &seen, 1, 0, 1000, &until, &why);
    is_int(rc, LLMOPT_BREAKER_KEEP, "4 of 10 failed: under 0.5");

    seen.window_f = 5;
    rc = llmopt_breaker_next(p, &seen, 1, 0, 1000, &until, &why);
    ok(rc == LLMOPT_BREAKER_OPEN && why == LLMOPT_BREAKER_ERROR_RATE,
       "5 of 10: open for the error rate");

    /* Retry-After beats the rest */

    memset(&seen, 0, sizeof(seen));
    seen.failures = 1;
    rc = llmopt_breaker_next(p, &seen, 1, 7000, 1000, &until, &why);
    ok(rc == LLMOPT_BREAKER_OPEN && until == 8000
       && why == LLMOPT_BREAKER_RETRY_AFTER, "Retry-After: open that long");

    /* open: only lengthened */

    seen.open_until_ms = 8000;
    rc = llmopt_breaker_next(p, &seen, 1, 3000, 2000, &until, &why);
    is_int(rc, LLMOPT_BREAKER_KEEP, "a shorter Retry-After keeps the end");

    rc = llmopt_breaker_next(p, &seen, 1, 9000, 2000, &until, &why);
    ok(rc == LLMOPT_BREAKER_OPEN && until == 11000, "a longer one extends");

    rc = llmopt_breaker_next(p, &seen, 0, 0, 2000, &until, &why);
    is_int(rc, LLMOPT_BREAKER_KEEP, "a late good answer of an open circuit");

    /* half-open: the probe */

    rc = llmopt_breaker_next(p, &seen, 0, 0, 8000, &until, &why);
    is_int(rc, LLMOPT_BREAKER_CLOSE, "the probe succeeded: closed");

    rc = llmopt_breaker_next(p, &seen, 1, 0, 8500, &until, &why);
    ok(rc == LLMOPT_BREAKER_OPEN && until == 10500
       && why == LLMOPT_BREAKER_PROBE_FAILED, "the probe failed: open again");

    test_free_all();

    return tap_done();
}

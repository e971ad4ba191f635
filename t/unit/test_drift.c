/*
 * Copyright (C) llmopt authors
 *
 * Change detectors: quiet on a stable stream, an alarm soon after the mean
 * moves, either way.
 */

#include <string.h>

#include "tap.h"
#include "llmopt_drift.h"
#include "llmopt_rng.h"


int
main(void)
{
    int             rc, alarms;
    unsigned        i, at;
    llmopt_ph_t     ph;
    llmopt_rng_t    rng;
    llmopt_adwin_t  ad;

    llmopt_rng_seed(&rng, 42);

    /* Page-Hinkley on rewards of 0/1, a good arm that turns bad */

    llmopt_ph_init(&ph, 0.005, 50, 30);
    alarms = 0;

    for (i = 0; i < 20000; i++) {
        alarms += llmopt_ph_add(&ph, llmopt_rng_uniform(&rng) < 0.8) != 0;
    }

    is_int(alarms, 0, "PH: 20,000 stable rewards (0.8), no alarm");

    at = 0;

    for (i = 0; i < 2000; i++) {
        rc = llmopt_ph_add(&ph, llmopt_rng_uniform(&rng) < 0.4);
        if (rc != 0) {
            is_int(rc, -1, "PH: the alarm says the mean fell");
            at = i + 1;
            break;
        }
    }

    ok(at > 0 && at <= 400, "PH: 0.8 -> 0.4 detected after %u rewards", at);

    llmopt_ph_init(&ph, 0.005, 50, 30);
    for (i = 0; i < 5000; i++) {
        (void) llmopt_ph_add(&ph, 0.3 + 0.1 * llmopt_rng_uniform(&rng));
    }
    for (at = 0, i = 0; i < 5000; i++) {
        if (llmopt_ph_add(&ph, 0.7 + 0.1 * llmopt_rng_uniform(&rng)) == 1) {
            at = i + 1;
            break;
        }
    }
    ok(at > 0 && at <= 200, "PH: a rise detected too, after %u", at);

    /* ADWIN on the same kind of streams */

    llmopt_adwin_init(&ad, 0.002, 16);
    alarms = 0;

    for (i = 0; i < 20000; i++) {
        alarms += llmopt_adwin_add(&ad, llmopt_rng_uniform(&rng) < 0.8) != 0;
    }

    is_int(alarms, 0, "ADWIN: 20,000 stable rewards, no alarm");
    ok(ad.width > 10000, "ADWIN: the window grew (%llu)",
       (unsigned long long) ad.width);
    is_num(llmopt_adwin_mean(&ad), 0.8, 0.02, "ADWIN: its mean is the mean");

    at = 0;

    for (i = 0; i < 4000; i++) {
        rc = llmopt_adwin_add(&ad, llmopt_rng_uniform(&rng) < 0.4);
        if (rc != 0) {
            is_int(rc, -1, "ADWIN: the alarm says the mean fell");
            at = i + 1;
            break;
        }
    }

    ok(at > 0 && at <= 300, "ADWIN: 0.8 -> 0.4 detected after %u values", at);
    ok(ad.width < 2000, "ADWIN: the old part was dropped (window %llu)",
       (unsigned long long) ad.width);

    for (i = 0; i < 2000; i++) {
        (void) llmopt_adwin_add(&ad, llmopt_rng_uniform(&rng) < 0.4);
    }

    is_num(llmopt_adwin_mean(&ad), 0.4, 0.05, "ADWIN: the mean follows");

    /* latencies: 800 ms becoming 8 s */

    llmopt_adwin_init(&ad, 0.002, 16);
    for (i = 0; i < 3000; i++) {
        (void) llmopt_adwin_add(&ad, 800 * (0.9 + 0.2 * llmopt_rng_uniform(&rng)));
    }
    for (at = 0, i = 0; i < 1000; i++) {
        if (llmopt_adwin_add(&ad, 8000 * (0.9 + 0.2 * llmopt_rng_uniform(&rng)))
            == 1)
        {
            at = i + 1;
            break;
        }
    }
    ok(at > 0 && at <= 40, "ADWIN: latency 0.8 s -> 8 s detected after %u", at);

    ok(llmopt_ph_add(&ph, 0.0 / 0.0 * 0) == 0, "a NaN is ignored");

    return tap_done();
}

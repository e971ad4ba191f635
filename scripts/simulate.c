
/*
 * Copyright (C) llmopt authors
 *
 * simulate: what the data set lacks -- a world that changes.  Three arms
 * (strong, mid, cheap) with a quality per kind of prompt (code or text),
 * a price and a latency; each step a prompt of either kind (30 % code),
 * the policy chooses, the outcome is drawn (Bernoulli quality, latency
 * with noise), scored by the core's llmopt_reward() and learned.  Half
 * way through, one scenario changes the world:
 *
 *   latency   the strong arm's latency goes from 0.8 s to 20 s
 *   price     the mid arm's price falls by 10x
 *   quality   the strong arm's quality on code falls from 0.9 to 0.55
 *   new arm   a fourth arm, better than all, becomes available
 *
 * For each scenario and policy: cumulative regret against the oracle (the
 * arm of the best expected reward for the prompt's kind, in the world of
 * the moment) before and after the change, and the recovery time: steps
 * after the change until the mean regret of the next 500 steps is at most
 * 0.005 a step (or "never"; rewards are in [0, 1]).  Mean of 5 seeds.
 * Links src/ only.
 *
 *   build/simulate [--steps N] [--seeds N]
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_core.h"
#include "llmopt_bandit.h"
#include "llmopt_rng.h"
#include "llmopt_catalog.h"
#include "llmopt_ring.h"
#include "llmopt_usage.h"
#include "llmopt_reward.h"


#define SIM_ARMS       4
#define SIM_WINDOW     500
#define SIM_SETTLED    0.005       /* mean regret a step, once recovered */


typedef struct {
    const char  *name;
    double       q_code, q_text;      /* probability of a good answer */
    double       cost;                /* USD a request */
    double       latency;             /* ms */
} sim_arm_t;


typedef struct {
    const char  *name;
    const char  *what;
} sim_scenario_t;


typedef struct {
    const char          *name;
    llmopt_algorithm_e   algorithm;
    double               alpha;
    double               forgetting;
    double               floor;
    double               prior_mean;
} sim_policy_t;


static const sim_scenario_t  scenarios[] = {
    { "latency", "the strong arm's latency 0.8 s -> 20 s" },
    { "price", "the mid arm's price / 10" },
    { "quality", "the strong arm's code quality 0.9 -> 0.55" },
    { "new arm", "a better fourth arm appears" },
};

static const sim_policy_t  policies[] = {
    { "linucb", LLMOPT_ALG_LINUCB, 0.5, 1, 0, 0 },
    { "linucb, forgetting .995", LLMOPT_ALG_LINUCB, 0.5, 0.995, 0, 0 },
    { "lin_ts, forgetting .995", LLMOPT_ALG_LIN_TS, 0.5, 0.995, 0, 0 },
    { "thompson, forgetting .995", LLMOPT_ALG_THOMPSON, 1, 0.995, 0, 0 },
    { "linucb, floor .05", LLMOPT_ALG_LINUCB, 0.5, 1, 0.05, 0 },
    { "linucb, prior .9, forget .995", LLMOPT_ALG_LINUCB, 0.5, 0.995, 0,
      0.9 },
    { "linucb, prior .9, floor .02", LLMOPT_ALG_LINUCB, 0.5, 1, 0.02, 0.9 },
};

static llmopt_reward_conf_t  rconf = { 0.6, 0.3, 0.1, 0.003, 2000, 0,
                                        LLMOPT_UNSCORED_NONE };


/* The world at a step: the arms of the scenario, changed after "change". */

static const char *sim_describe(unsigned sc);


static void
sim_world(unsigned scenario, int changed, sim_arm_t *arms,
    unsigned char *allowed)
{
    static const sim_arm_t  base[SIM_ARMS] = {
        { "strong", 0.90, 0.90, 0.0100, 800 },
        { "mid", 0.70, 0.88, 0.0040, 600 },
        { "cheap", 0.35, 0.80, 0.0004, 400 },
        { "new", 0.97, 0.97, 0.0005, 300 },
    };

    memcpy(arms, base, sizeof(base));
    memset(allowed, 1, SIM_ARMS);
    allowed[3] = 0;

    if (!changed) {
        return;
    }

    switch (scenario) {
    case 0:
        arms[0].latency = 20000;
        break;
    case 1:
        arms[1].cost /= 10;
        break;
    case 2:
        arms[0].q_code = 0.55;
        break;
    default:
        allowed[3] = 1;
        break;
    }
}


static double
sim_expected(const sim_arm_t *a, int code)
{
    llmopt_event_t   ev;
    llmopt_reward_t  r;

    memset(&ev, 0, sizeof(ev));
    ev.kind = LLMOPT_EVENT_OUTCOME;
    ev.status = 200;
    ev.finish = LLMOPT_FINISH_STOP;
    ev.cost = a->cost;
    ev.quality = (float) (code ? a->q_code : a->q_text);
    ev.latency_ms = (float) a->latency;
    ev.ttft_ms = -1;

    if (llmopt_reward(&rconf, &ev, &r) != LLMOPT_OK) {
        fprintf(stderr, "simulate: the core declined an outcome\n");
        exit(1);
    }

    return r.reward;
}


static unsigned
sim_oracle(const sim_arm_t *arms, const unsigned char *allowed, int code,
    double *best)
{
    unsigned  k, arg;
    double    v;

    arg = 0;
    *best = -1;

    for (k = 0; k < SIM_ARMS; k++) {
        if (!allowed[k]) {
            continue;
        }

        v = sim_expected(&arms[k], code);

        if (v > *best) {
            *best = v;
            arg = k;
        }
    }

    return arg;
}


/*
 * One run: regret before and after the change, recovery steps (-1:
 * never).
 */

static void
sim_run(unsigned scenario, const sim_policy_t *pol, unsigned steps,
    uint64_t seed, double *regret_before, double *regret_after,
    long *recovery)
{
    int                   code, changed;
    void                 *block;
    double                x[2], best, reward;
    unsigned              t, k, half, oracle;
    unsigned char         allowed[SIM_ARMS];
    double               *loss, sum, step_regret;
    sim_arm_t             arms[SIM_ARMS];
    llmopt_rng_t          rng, world;
    llmopt_event_t        ev;
    llmopt_reward_t       r;
    llmopt_choice_t       choice;
    llmopt_bandit_conf_t  conf;
    unsigned              s;

    llmopt_bandit_conf_defaults(&conf);
    conf.algorithm = pol->algorithm;
    conf.n_arms = SIM_ARMS;
    conf.d = 2;
    conf.alpha = pol->alpha;
    conf.lambda = 1;
    conf.forgetting = pol->forgetting;
    conf.exploration_floor = pol->floor;
    conf.prior_mean = pol->prior_mean;
    conf.prior_index = 0;                       /* x[0] is the bias */
    conf.seed = seed;

    block = malloc(llmopt_bandit_size(&conf));
    loss = calloc(steps, sizeof(double));

    if (block == NULL || loss == NULL) {
        fprintf(stderr, "simulate: out of memory\n");
        exit(1);
    }

    llmopt_bandit_init(&conf, block);
    llmopt_rng_seed(&rng, seed);
    llmopt_rng_seed(&world, seed * 7919 + 13);

    half = steps / 2;
    *regret_before = 0;
    *regret_after = 0;

    for (t = 0; t < steps; t++) {
        changed = t >= half;
        sim_world(scenario, changed, arms, allowed);

        code = llmopt_rng_uniform(&world) < 0.3;
        x[0] = 1;
        x[1] = code;

        if (llmopt_bandit_select(&conf, block, x, allowed, &rng, &choice)
            != LLMOPT_OK)
        {
            fprintf(stderr, "simulate: select failed\n");
            exit(1);
        }

        k = choice.arm;
        oracle = sim_oracle(arms, allowed, code, &best);
        step_regret = k == oracle ? 0 : best - sim_expected(&arms[k], code);
        loss[t] = step_regret;

        if (changed) {
            *regret_after += step_regret;
        } else {
            *regret_before += step_regret;
        }

        /* the outcome, drawn */

        memset(&ev, 0, sizeof(ev));
        ev.kind = LLMOPT_EVENT_OUTCOME;
        ev.status = 200;
        ev.finish = LLMOPT_FINISH_STOP;
        ev.cost = arms[k].cost;
        ev.quality = llmopt_rng_uniform(&world)
                     < (code ? arms[k].q_code : arms[k].q_text) ? 1.0f : 0.0f;
        ev.latency_ms = (float) (arms[k].latency
                                 * (0.9 + 0.2 * llmopt_rng_uniform(&world)));
        ev.ttft_ms = -1;

        if (llmopt_reward(&rconf, &ev, &r) != LLMOPT_OK) {
            exit(1);
        }

        reward = r.reward;
        llmopt_bandit_update(&conf, block, k, x, reward);
    }

    /* recovery: the first step after the change from which the mean
       regret of the next SIM_WINDOW steps is at most SIM_SETTLED */

    *recovery = -1;
    sum = 0;

    for (s = half; s < half + SIM_WINDOW && s < steps; s++) {
        sum += loss[s];
    }

    for (s = half; s + SIM_WINDOW <= steps; s++) {
        if (sum <= SIM_SETTLED * SIM_WINDOW) {
            *recovery = s - half;
            break;
        }

        sum -= loss[s];

        if (s + SIM_WINDOW < steps) {
            sum += loss[s + SIM_WINDOW];
        }
    }

    free(block);
    free(loss);
}


/* "code strong -> mid, text mid" for the scenario's change */

static const char *
sim_describe(unsigned sc)
{
    int             code;
    char           *p;
    double          best;
    unsigned        a, b;
    unsigned char   allowed[SIM_ARMS];
    sim_arm_t       arms[SIM_ARMS];
    static char     buf[256];

    p = buf;

    for (code = 1; code >= 0; code--) {
        sim_world(sc, 0, arms, allowed);
        a = sim_oracle(arms, allowed, code, &best);
        sim_world(sc, 1, arms, allowed);
        b = sim_oracle(arms, allowed, code, &best);

        p += sprintf(p, "%s%s %s", code ? "" : ", ", code ? "code" : "text",
                     arms[a].name);

        if (a != b) {
            p += sprintf(p, " -> %s", arms[b].name);
        }
    }

    return buf;
}


int
main(int argc, char **argv)
{
    int        i;
    long       rec, recs[64];
    double     before, after, sb, sa;
    unsigned   sc, p, seed, seeds, steps, never;

    steps = 20000;
    seeds = 5;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            steps = (unsigned) strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = (unsigned) strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: simulate [--steps N] [--seeds N]\n");
            return 2;
        }
    }

    if (steps < 4 * SIM_WINDOW || seeds == 0 || seeds > 64) {
        fprintf(stderr, "simulate: --steps >= %d, --seeds 1..64\n",
                4 * SIM_WINDOW);
        return 2;
    }

    printf("simulate: %u steps, the change at %u; 3 arms (strong, mid, cheap),"
           " 30 %% code prompts; reward quality .6, cost .3 (ref $0.003),"
           " latency .1 (ref 2 s); mean of %u seeds\n", steps, steps / 2,
           seeds);

    for (sc = 0; sc < sizeof(scenarios) / sizeof(scenarios[0]); sc++) {
        printf("\n%s: %s; the oracle: %s\n", scenarios[sc].name,
               scenarios[sc].what, sim_describe(sc));
        printf("  %-31s %14s %14s %18s\n", "policy", "regret before",
               "regret after", "recovery (steps)");

        for (p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
            sb = sa = 0;
            never = 0;

            for (seed = 1; seed <= seeds; seed++) {
                sim_run(sc, &policies[p], steps, seed, &before, &after, &rec);
                sb += before;
                sa += after;
                recs[seed - 1] = rec;
                never += rec < 0;
            }

            rec = 0;
            for (seed = 0; seed < seeds; seed++) {
                rec += recs[seed] < 0 ? 0 : recs[seed];
            }

            printf("  %-31s %14.1f %14.1f ", policies[p].name, sb / seeds,
                   sa / seeds);

            if (never == seeds) {
                printf("%18s\n", "never");
            } else if (never) {
                printf("%11.0f (%u never)\n",
                       (double) rec / (seeds - never), never);
            } else {
                printf("%18.0f\n", (double) rec / seeds);
            }
        }
    }

    return 0;
}

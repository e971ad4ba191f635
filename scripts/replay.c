/*
 * Copyright (C) llmopt authors
 *
 * replay: streams the rows of a data set (any CSV of the RouterBench
 * schema) through the real core as an online learner from cold start,
 * one shuffled pass per seed, at each cost weight of a sweep, and reports
 * how its routing compares with fixed choices of model.  This file holds
 * the options and the sweep; replay.h lists the other parts.  Links src/
 * only.
 *
 *   build/replay [options] [--data FILE.csv|DIR ...]
 *
 * docs/REPLAY.md defines every figure printed.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmopt_core.h"
#include "llmopt_bandit.h"
#include "replay.h"


#define REPLAY_DEFAULT_DATA  "../shared/data/routerbench"


typedef struct {
    const char            *data[REPLAY_MAX_FILES];
    unsigned               n_data;
    unsigned               seeds;
    unsigned               n_weights;
    double                 weights[REPLAY_MAX_WEIGHTS];
    const char            *best;
    const char            *json;
    const char            *export_dir;    /* --export: write, no run */
    const char            *measured;      /* --measured: points from
                                             elsewhere (replay --e2e) */
    const char            *requests;      /* --catalog, --policy,
                                             --requests: a catalog's
                                             decisions (replay_catalog.c) */
    const char            *outcomes;      /* --outcomes: each arm's answer */
    const char            *cascade;       /* --cascade TIERS: the cascade
                                             beside the router */
    replay_policy_conf_t   policy;
} replay_conf_t;


static int replay_options(replay_conf_t *conf, int argc, char **argv);
static int replay_number(const char *opt, const char *val, double lo,
    double hi, double *v);
static int replay_weights(replay_conf_t *conf, const char *list);
static void replay_usage(void);
static int replay_measured(const replay_conf_t *conf, replay_op_t *ops);
static double replay_now(void);
static int replay_cascade_sweep(const replay_conf_t *conf,
    const replay_data_t *data, const replay_policy_t *rp,
    replay_report_conf_t *rc);


static replay_op_t  replay_ops[REPLAY_MAX_WEIGHTS];
static replay_op_t  replay_cascade_ops[REPLAY_MAX_WEIGHTS];


int
main(int argc, char **argv)
{
    double                t0;
    unsigned              i, j, k;
    replay_conf_t         conf;
    replay_data_t         data;
    replay_policy_t       rp;
    replay_report_conf_t  rc;

    if (replay_options(&conf, argc, argv) != 0) {
        return 2;
    }

    if (conf.requests != NULL) {
        if (conf.policy.catalog == NULL || conf.policy.policy == NULL) {
            fprintf(stderr, "replay: --requests needs --catalog and "
                    "--policy\n");
            return 2;
        }

        return replay_catalog(conf.policy.catalog, conf.policy.policy,
                              conf.requests, conf.outcomes);
    }

    if ((conf.policy.catalog == NULL) != (conf.policy.policy == NULL)) {
        fprintf(stderr, "replay: --catalog and --policy go together\n");
        return 2;
    }

    t0 = replay_now();
    memset(&data, 0, sizeof(replay_data_t));

    if (conf.export_dir != NULL && replay_export_open(conf.export_dir) != 0) {
        return 1;
    }

    for (i = 0; i < conf.n_data; i++) {
        if (replay_data_add(&data, conf.data[i],
                            conf.export_dir != NULL ? replay_export_row
                            : conf.cascade != NULL ? replay_cascade_keep
                            : NULL, NULL)
            != 0)
        {
            return 1;
        }
    }

    if (data.n_rows == 0) {
        fprintf(stderr, "replay: %s: no row without a missing value\n",
                conf.data[0]);
        return 1;
    }

    if (conf.export_dir != NULL) {
        return replay_export_close(conf.export_dir, &data, conf.seeds) == 0
               ? 0 : 1;
    }

    if (replay_policy_make(&rp, &data, &conf.policy) != 0) {
        return 1;
    }

    for (j = 0; j < conf.n_weights; j++) {
        replay_ops[j].weight = conf.weights[j];

        for (k = 0; k < conf.seeds; k++) {
            replay_run(&rp, &data, conf.weights[j], k + 1,
                       &replay_ops[j].run[k]);
        }
    }

    if (conf.measured != NULL && replay_measured(&conf, replay_ops) != 0) {
        return 1;
    }

    rc.best = conf.best;
    rc.json = conf.json;
    rc.seeds = conf.seeds;
    rc.n_ops = conf.n_weights;
    rc.ops = replay_ops;
    rc.elapsed = replay_now() - t0;

    if (replay_report(&data, &rp, &rc) != 0) {
        return 1;
    }

    return conf.cascade != NULL ? replay_cascade_sweep(&conf, &data, &rp, &rc)
                                : 0;
}


static int
replay_options(replay_conf_t *conf, int argc, char **argv)
{
    int                    id;
    char                  *end;
    unsigned               i;
    const char            *opt, *val;
    replay_policy_conf_t  *pc;

    memset(conf, 0, sizeof(replay_conf_t));

    conf->seeds = 20;
    pc = &conf->policy;

    /* the derived policy's defaults: docs/REPLAY.md says how chosen */

    pc->alpha = -1;             /* 0.5 for linucb and lin_ts, 0.3 ucb1 */
    pc->ridge = 0.1;
    pc->prior_mean = 0.9;
    pc->epsilon = -1;
    pc->floor = -1;
    pc->decay = -1;
    pc->cost_ref = 0.003;
    pc->word_buckets = 0;
    pc->bits = -1;              /* the sparse learner's: the catalog's */
    pc->ngrams = -1;
    pc->learning_rate = -1;
    pc->exploration = -1;

    if (replay_weights(conf, "0.04,0.06,0.08,0.09,0.1,0.11,0.12,0.13,0.14,"
                             "0.15,0.16,0.17,0.18,0.19,0.2,0.21,0.22,0.24,"
                             "0.26,0.3,0.4,0.5")
        != 0)
    {
        return -1;
    }

    for (i = 1; i < (unsigned) argc; i++) {
        opt = argv[i];

        if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
            replay_usage();
            exit(0);
        }

        if (opt[0] != '-') {
            val = opt;
            opt = "--data";

        } else if (i + 1 >= (unsigned) argc) {
            fprintf(stderr, "replay: option %s needs a value\n", opt);
            return -1;

        } else {
            val = argv[++i];
        }

        if (strcmp(opt, "--data") == 0) {
            if (conf->n_data == REPLAY_MAX_FILES) {
                fprintf(stderr, "replay: more than %d --data\n",
                        REPLAY_MAX_FILES);
                return -1;
            }

            conf->data[conf->n_data++] = val;

        } else if (strcmp(opt, "--algorithm") == 0) {
            id = llmopt_algorithm_lookup(val, strlen(val));

            if (strcmp(val, "sparse") != 0
                && (id < 0 || id == LLMOPT_ALG_STATIC))
            {
                fprintf(stderr, "replay: unknown algorithm \"%s\"\n", val);
                return -1;
            }

            pc->algorithm = val;

        } else if (strcmp(opt, "--alpha") == 0) {
            if (replay_number(opt, val, 0, HUGE_VAL, &pc->alpha) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--ridge") == 0) {
            if (replay_number(opt, val, 1e-12, HUGE_VAL, &pc->ridge) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--prior-mean") == 0) {
            if (replay_number(opt, val, 0, 1, &pc->prior_mean) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--epsilon") == 0) {
            if (replay_number(opt, val, 0, 1, &pc->epsilon) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--floor") == 0) {
            if (replay_number(opt, val, 0, 1, &pc->floor) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--decay") == 0) {
            if (replay_number(opt, val, 0, 1, &pc->decay) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--cost-ref") == 0) {
            if (replay_number(opt, val, 1e-12, HUGE_VAL, &pc->cost_ref) != 0)
            {
                return -1;
            }

        } else if (strcmp(opt, "--bits") == 0) {
            if (replay_number(opt, val, LLMOPT_SPARSE_BITS_MIN,
                              LLMOPT_SPARSE_BITS_MAX, &pc->bits)
                != 0)
            {
                return -1;
            }

        } else if (strcmp(opt, "--ngrams") == 0) {
            if (replay_number(opt, val, 1, 2, &pc->ngrams) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--learning-rate") == 0) {
            if (replay_number(opt, val, 1e-12, 10, &pc->learning_rate) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--exploration") == 0) {
            if (replay_number(opt, val, 1e-12, 1e6, &pc->exploration) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--features") == 0) {
            pc->features = val;

        } else if (strcmp(opt, "--words") == 0) {
            errno = 0;
            pc->word_buckets = (unsigned) strtoul(val, &end, 10);

            if (errno != 0 || *end != '\0' || pc->word_buckets == 0) {
                fprintf(stderr, "replay: bad value \"%s\" for %s\n", val,
                        opt);
                return -1;
            }

        } else if (strcmp(opt, "--seeds") == 0) {
            errno = 0;
            conf->seeds = (unsigned) strtoul(val, &end, 10);

            if (errno != 0 || *end != '\0' || conf->seeds == 0
                || conf->seeds > REPLAY_MAX_SEEDS)
            {
                fprintf(stderr, "replay: --seeds is 1 to %d\n",
                        REPLAY_MAX_SEEDS);
                return -1;
            }

        } else if (strcmp(opt, "--weights") == 0) {
            if (replay_weights(conf, val) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--best") == 0) {
            conf->best = val;

        } else if (strcmp(opt, "--json") == 0) {
            conf->json = val;

        } else if (strcmp(opt, "--export") == 0) {
            conf->export_dir = val;

        } else if (strcmp(opt, "--measured") == 0) {
            conf->measured = val;

        } else if (strcmp(opt, "--catalog") == 0) {
            pc->catalog = val;

        } else if (strcmp(opt, "--policy") == 0) {
            pc->policy = val;

        } else if (strcmp(opt, "--requests") == 0) {
            conf->requests = val;

        } else if (strcmp(opt, "--outcomes") == 0) {
            conf->outcomes = val;

        } else if (strcmp(opt, "--cascade") == 0) {
            conf->cascade = val;

        } else {
            fprintf(stderr, "replay: unknown option %s\n", opt);
            replay_usage();
            return -1;
        }
    }

    if (conf->n_data == 0) {
        conf->data[conf->n_data++] = REPLAY_DEFAULT_DATA;
    }

    if (pc->alpha < 0) {
        pc->alpha = pc->algorithm == NULL
                    || strcmp(pc->algorithm, "linucb") == 0
                    || strcmp(pc->algorithm, "lin_ts") == 0
                    ? 0.5
                    : strcmp(pc->algorithm, "ucb1") == 0 ? 0.3 : -1;
    }

    return 0;
}


/* --cascade: the same sweep and report of the cascade, after the router's */

static int
replay_cascade_sweep(const replay_conf_t *conf, const replay_data_t *data,
    const replay_policy_t *rp, replay_report_conf_t *rc)
{
    double                t0;
    unsigned              j, k;
    replay_cascade_t      cc;
    llmopt_reward_conf_t  rconf;

    if (replay_cascade_tiers(&cc, data, conf->cascade) != 0) {
        return 1;
    }

    t0 = replay_now();

    for (j = 0; j < conf->n_weights; j++) {
        replay_cascade_ops[j].weight = conf->weights[j];
        replay_reward_conf(rp, conf->weights[j], &rconf);

        for (k = 0; k < conf->seeds; k++) {
            replay_cascade_run(&cc, data, &rconf, k + 1,
                               &replay_cascade_ops[j].run[k]);
        }
    }

    printf("\ncascade %s (replay_cascade.c), the same weights and seeds:\n",
           conf->cascade);

    rc->json = NULL;
    rc->ops = replay_cascade_ops;
    rc->elapsed = replay_now() - t0;

    return replay_report(data, rp, rc) == 0 ? 0 : 1;
}


static int
replay_number(const char *opt, const char *val, double lo, double hi,
    double *v)
{
    char  *end;

    errno = 0;
    *v = strtod(val, &end);

    if (errno != 0 || end == val || *end != '\0' || !(*v >= lo && *v <= hi))
    {
        fprintf(stderr, "replay: bad value \"%s\" for %s\n", val, opt);
        return -1;
    }

    return 0;
}


static int
replay_weights(replay_conf_t *conf, const char *list)
{
    char        *end;
    double       w;
    const char  *p;

    conf->n_weights = 0;
    p = list;

    while (*p != '\0') {
        errno = 0;
        w = strtod(p, &end);

        if (errno != 0 || end == p || !(w >= 0 && w <= 1)
            || conf->n_weights == REPLAY_MAX_WEIGHTS
            || (*end != ',' && *end != '\0'))
        {
            fprintf(stderr, "replay: --weights takes up to %d numbers in "
                    "[0, 1], comma-separated: \"%s\"\n", REPLAY_MAX_WEIGHTS,
                    list);
            return -1;
        }

        conf->weights[conf->n_weights++] = w;
        p = *end == ',' ? end + 1 : end;
    }

    if (conf->n_weights == 0) {
        fprintf(stderr, "replay: --weights is empty\n");
        return -1;
    }

    return 0;
}


static void
replay_usage(void)
{
    fprintf(stderr,
        "usage: replay [options] [--data FILE.csv|DIR ...]\n"
        "  --data PATH        a CSV of the RouterBench schema, or a\n"
        "                     directory of them; repeatable\n"
        "                     (../shared/data/routerbench)\n"
        "  --best MODEL       the reference of %%acc and %%cost (the most\n"
        "                     accurate model)\n"
        "  --catalog FILE --policy NAME\n"
        "                     replay that policy of a catalog (its\n"
        "                     algorithm, features, reward's cost_ref);\n"
        "                     its arms' models are the data's columns\n"
        "  --seeds N          seeds 1..N, up to 100 (20)\n"
        "  --weights LIST     cost weights w to sweep, comma-separated\n"
        "  --json FILE        the report as JSON too\n"
        "  --cascade TIERS    the cascade core too, beside the router:\n"
        "                     tiers by commas, a pair by \"+\"\n"
        "                     (mixtral+yi,gpt-4: docs/CASCADE.md)\n"
        "without --catalog, the policy derived from the data set:\n"
        "  --algorithm NAME   linucb (default), lin_ts, thompson, ucb1,\n"
        "                     epsilon_greedy, sparse\n"
        "  --alpha X          linucb width, lin_ts scale (0.5), ucb1\n"
        "                     width (0.3)\n"
        "  --ridge X          ridge prior of the linear bandits (0.1)\n"
        "  --prior-mean X     their prior mean reward on the bias (0.9)\n"
        "  --epsilon X        epsilon_greedy (the catalog's default)\n"
        "  --floor X          exploration floor (the catalog's default)\n"
        "  --decay C          exploration decay (the catalog's default)\n"
        "  --cost-ref USD     reference cost of the reward (0.003)\n"
        "  --features LIST    catalog feature names, comma-separated\n"
        "                     (bias,input_tokens,messages,has_code,\n"
        "                     has_tools,hour)\n"
        "  --words K          buckets of the words feature\n"
        "  --bits N, --ngrams N, --learning-rate X, --exploration X\n"
        "                     sparse's settings (the catalog's defaults)\n"
        "for the end-to-end replay (scripts/replay --e2e):\n"
        "  --export DIR       write the rows and each seed's order, stop\n"
        "  --measured FILE    \"weight seed accuracy cost\" lines measured\n"
        "                     elsewhere, reported beside the in-process run\n"
        "  --catalog FILE --policy NAME --requests FILE\n"
        "                     the arm the policy decides for each request\n"
        "                     (one OpenAI body a line), as nginx would\n"
        "  --outcomes FILE    with --requests: \"<arm> <status> <latency\n"
        "                     ms>\" lines, how each arm answers; the\n"
        "                     breakers and the latency SLO learn from them\n");
}


/*
 * --measured: each weight's end-to-end mean beside the in-process one,
 * the difference in standard errors of the difference (from the seeds'
 * spread of both); then the end-to-end points replace the in-process
 * ones for the report.
 */

static int
replay_measured(const replay_conf_t *conf, replay_op_t *ops)
{
    double     e[2][REPLAY_MAX_SEEDS], c[2][REPLAY_MAX_SEEDS];
    double     me[2], se[2], mc[2], sc[2], d, s, dc, sdc;
    unsigned   j, k, n, within;

    if (replay_measured_read(conf->measured) != 0) {
        return -1;
    }

    n = conf->seeds;
    within = 0;

    printf("measured end to end (%s) beside the in-process run of the "
           "same rows, order, weights and seeds (mean of %u seeds):\n",
           conf->measured, n);
    printf("  %5s %10s %10s   %10s %10s   %8s %6s %9s %6s\n", "w",
           "e2e acc", "e2e cost", "core acc", "core cost", "d acc", "d/se",
           "d cost $", "d/se");

    for (j = 0; j < conf->n_weights; j++) {
        for (k = 0; k < n; k++) {
            e[1][k] = ops[j].run[k].accuracy;
            c[1][k] = ops[j].run[k].cost;

            if (replay_measured_find(ops[j].weight, k + 1, &e[0][k],
                                     &c[0][k])
                != 0)
            {
                fprintf(stderr, "replay: %s has no point for w %g, seed "
                        "%u\n", conf->measured, ops[j].weight, k + 1);
                return -1;
            }

            ops[j].run[k].accuracy = e[0][k];
            ops[j].run[k].cost = c[0][k];
        }

        for (k = 0; k < 2; k++) {
            replay_mean_se(e[k], n, &me[k], &se[k]);
            replay_mean_se(c[k], n, &mc[k], &sc[k]);
        }

        d = me[0] - me[1];
        s = sqrt(se[0] * se[0] + se[1] * se[1]);
        dc = mc[0] - mc[1];
        sdc = sqrt(sc[0] * sc[0] + sc[1] * sc[1]);
        within += s > 0 && fabs(d) <= 2 * s;

        printf("  %5.3f %10.4f %10.3f   %10.4f %10.3f   %+8.4f %6.1f %+9.3f "
               "%6.1f\n", ops[j].weight, me[0], mc[0], me[1], mc[1], d,
               s > 0 ? d / s : 0.0, dc, sdc > 0 ? dc / sdc : 0.0);
    }

    printf("  accuracy within noise (|d| <= 2 standard errors of the "
           "difference): %u of %u weights\n\nthe figures below are the "
           "end-to-end ones\n\n", within, conf->n_weights);

    return 0;
}


static double
replay_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Copyright (C) llmopt authors
 *
 * replay: streams the RouterBench rows through the real core as an online
 * learner from cold start.  Each row's prompt becomes an OpenAI chat body,
 * which is parsed (llmopt_request_parse), turned into features
 * (llmopt_features_build), routed among the 11 models of the data set
 * by the decision nginx makes (llmopt_decide, its bandit's choice
 * llmopt_bandit_select), scored from the chosen model's recorded
 * correctness and cost (llmopt_reward) and learned (llmopt_bandit_update).
 * One pass over a shuffled stream per seed; the cost weight of the reward
 * is swept to trace a cost-quality curve.  Links src/ only.
 *
 *   build/replay [options] [routerbench-dir]
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
#include "llmopt_request.h"
#include "llmopt_features.h"
#include "llmopt_bandit.h"
#include "llmopt_rng.h"
#include "llmopt_catalog.h"
#include "llmopt_ring.h"
#include "llmopt_usage.h"
#include "llmopt_reward.h"
#include "llmopt_decide.h"
#include "replay.h"


#define REPLAY_MODELS        11
#define REPLAY_TASKS         3
#define REPLAY_MAX_WEIGHTS   32
#define REPLAY_MAX_SEEDS     32
#define REPLAY_MAX_COLUMNS   64
#define REPLAY_TOKS          256
#define REPLAY_REF_MODEL     "gpt-4-1106-preview"
#define REPLAY_SHUFFLE_SALT  0x7265706c61792121ULL
#define REPLAY_MESSAGE_LEN   40     /* ,{"role":"user","content":""} */


typedef struct {
    char       *body;                     /* OpenAI chat request JSON */
    size_t      len;
    unsigned    task;                     /* index in replay_tasks */
    double      quality[REPLAY_MODELS];   /* 0/1 correctness */
    double      cost[REPLAY_MODELS];      /* USD */
} replay_row_t;


typedef struct {
    double      cost;                     /* USD */
    double      accuracy;
} replay_point_t;


typedef struct {
    double      weight;                   /* cost weight of the reward */
    double      accuracy[REPLAY_MAX_SEEDS];
    double      cost[REPLAY_MAX_SEEDS];
    double      mean_accuracy;
    double      mean_cost;
    double      sd_accuracy;
    double      sd_cost;
    double      hull;                     /* models' hull at mean_cost */
    int         above;
    double      task_accuracy;            /* best model per task, same w */
    double      task_cost;
} replay_op_t;


typedef struct {
    const char            *dir;
    llmopt_algorithm_e     algorithm;
    double                 alpha;
    double                 ridge;
    double                 epsilon;
    double                 cost_ref;
    double                 prior_mean;
    unsigned               prior_index;
    unsigned               seeds;
    unsigned               word_buckets;
    unsigned               n_weights;
    double                 weights[REPLAY_MAX_WEIGHTS];
    llmopt_feature_spec_t  spec;
    const char            *export_dir;    /* --export: write, no run */
    const char            *measured;      /* --measured: points from
                                             elsewhere (replay --e2e) */
    const char            *catalog;       /* --catalog, --policy,
                                             --requests: a catalog's
                                             decisions (replay_catalog.c) */
    const char            *policy;
    const char            *requests;
    const char            *outcomes;      /* --outcomes: each arm's answer */
} replay_conf_t;


/* An operating point measured elsewhere, for a weight and a seed. */

typedef struct {
    double      weight;
    unsigned    seed;
    double      accuracy;
    double      cost;
} replay_measured_t;


static int replay_options(replay_conf_t *conf, int argc, char **argv);
static int replay_weights(replay_conf_t *conf, const char *list);
static int replay_features(replay_conf_t *conf, const char *list);
static void replay_usage(void);
static int replay_load(const replay_conf_t *conf, const char *file,
    unsigned task);
static char *replay_read(const char *path, size_t *len);
static int replay_csv_record(char **p, char *end, char **fields,
    unsigned max, unsigned *n);
static int replay_number(const char *s, double *v);
static char *replay_body(const char *list, size_t *len);
static size_t replay_py_string(const char **p, char *out);
static size_t replay_utf8(unsigned long cp, char *out);
static size_t replay_json_escape(const char *s, size_t n, char *out);
static int replay_export(const replay_conf_t *conf);
static int replay_export_row(const replay_row_t *row, char **fields,
    const unsigned *r_col);
static void replay_shuffle(unsigned *order, uint64_t seed);
static int replay_read_measured(const char *path);
static const replay_measured_t *replay_find_measured(double weight,
    unsigned seed);
static void replay_run(const replay_conf_t *conf, double weight,
    uint64_t seed, double *accuracy, double *cost);
static void replay_reward_conf(const replay_conf_t *conf, double weight,
    llmopt_reward_conf_t *rconf);
static double replay_reward(const llmopt_reward_conf_t *rconf,
    unsigned arm, double quality, double cost);
static void replay_task_best(const replay_conf_t *conf, double weight,
    double *accuracy, double *cost);
static void replay_hull(const replay_point_t *pts, unsigned n,
    replay_point_t *hull, unsigned *n_hull);
static double replay_hull_at(const replay_point_t *hull, unsigned n,
    double cost);
static double replay_aiq(const replay_point_t *hull, unsigned n, double lo,
    double hi);
static int replay_point_cmp(const void *a, const void *b);
static double replay_now(void);
static int replay_policy(void);
static int replay_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice);
static void *replay_alloc(void *ctx, size_t size);


static const char  *replay_files[REPLAY_TASKS] = {
    "arc_challenge", "mbpp", "winograde"
};

static const char  *replay_splits[2] = { "train", "test" };

static FILE          *replay_export_rows;        /* --export */
static replay_measured_t  replay_meas[REPLAY_MAX_WEIGHTS * REPLAY_MAX_SEEDS];
static unsigned       replay_n_meas;
static char          *replay_models[REPLAY_MODELS];
static unsigned       replay_ref;                 /* index of gpt-4 */
static replay_row_t  *replay_rows;
static unsigned       replay_n_rows;
static unsigned       replay_cap_rows;
static unsigned       replay_incomplete;
static unsigned       replay_task_rows[REPLAY_TASKS];

/* the policy llmopt_decide() applies: the data set's models as its arms */
static llmopt_catalog_t       replay_cat;
static const llmopt_policy_t *replay_pol;

/* what replay_select() chooses with */
typedef struct {
    const llmopt_bandit_conf_t  *conf;
    const void                  *block;
} replay_bandit_t;


int
main(int argc, char **argv)
{
    int                    met1, met2;
    char                   name[256], sd_acc[32], sd_cost[32];
    double                 t0, elapsed, acc, cost, ref_acc, ref_cost;
    double                 rand_acc, rand_cost, or_acc, or_cost, best_q;
    double                 best_c, a, c, s, lo, hi;
    double                 hull_lo, hull_hi, range_above, range_all;
    double                 model_acc[REPLAY_MODELS];
    double                 model_cost[REPLAY_MODELS];
    unsigned               i, j, k, t, m, best, n_hull, n_rhull, n_above;
    replay_conf_t          conf;
    replay_point_t         pts[REPLAY_MODELS], hull[REPLAY_MODELS];
    replay_point_t         rpts[REPLAY_MAX_WEIGHTS];
    replay_point_t         rhull[REPLAY_MAX_WEIGHTS];
    replay_op_t            ops[REPLAY_MAX_WEIGHTS], *op, *op1, *op2;
    replay_point_t         inproc[REPLAY_MAX_WEIGHTS];
    replay_point_t         inseed[REPLAY_MAX_WEIGHTS][REPLAY_MAX_SEEDS];
    llmopt_err_t           err;

    if (replay_options(&conf, argc, argv) != 0) {
        return 2;
    }

    if (conf.catalog != NULL || conf.policy != NULL || conf.requests != NULL) {
        if (conf.catalog == NULL || conf.policy == NULL
            || conf.requests == NULL)
        {
            fprintf(stderr, "replay: --catalog, --policy and --requests go "
                    "together\n");
            return 2;
        }

        return replay_catalog(conf.catalog, conf.policy, conf.requests,
                              conf.outcomes);
    }

    if (llmopt_feature_spec_finish(&conf.spec, &err) != LLMOPT_OK) {
        fprintf(stderr, "replay: features: %s\n", err.msg);
        return 2;
    }

    t0 = replay_now();

    if (conf.export_dir != NULL) {
        snprintf(name, sizeof(name), "%s/rows.jsonl", conf.export_dir);
        replay_export_rows = fopen(name, "w");

        if (replay_export_rows == NULL) {
            fprintf(stderr, "replay: %s: %s\n", name, strerror(errno));
            return 1;
        }
    }

    if (conf.measured != NULL && replay_read_measured(conf.measured) != 0) {
        return 1;
    }

    for (t = 0; t < REPLAY_TASKS; t++) {
        for (k = 0; k < 2; k++) {
            snprintf(name, sizeof(name), "%s_%s.csv", replay_files[t],
                     replay_splits[k]);

            if (replay_load(&conf, name, t) != 0) {
                return 1;
            }
        }
    }

    if (replay_n_rows == 0) {
        fprintf(stderr, "replay: no complete rows in %s\n", conf.dir);
        return 1;
    }

    if (conf.export_dir != NULL) {
        return replay_export(&conf) == 0 ? 0 : 1;
    }

    if (replay_policy() != 0) {
        return 1;
    }

    /* baselines */

    rand_acc = 0;
    rand_cost = 0;

    for (m = 0; m < REPLAY_MODELS; m++) {
        acc = 0;
        cost = 0;

        for (i = 0; i < replay_n_rows; i++) {
            acc += replay_rows[i].quality[m];
            cost += replay_rows[i].cost[m];
        }

        model_acc[m] = acc / replay_n_rows;
        model_cost[m] = cost;
        rand_acc += model_acc[m] / REPLAY_MODELS;
        rand_cost += model_cost[m] / REPLAY_MODELS;

        pts[m].cost = model_cost[m];
        pts[m].accuracy = model_acc[m];
    }

    ref_acc = model_acc[replay_ref];
    ref_cost = model_cost[replay_ref];

    best = 0;

    for (m = 1; m < REPLAY_MODELS; m++) {
        if (model_acc[m] > model_acc[best]
            || (model_acc[m] == model_acc[best]
                && model_cost[m] < model_cost[best]))
        {
            best = m;
        }
    }

    /* the per-prompt oracle: the cheapest correct model, else the cheapest */

    or_acc = 0;
    or_cost = 0;

    for (i = 0; i < replay_n_rows; i++) {
        best_q = 0;
        best_c = INFINITY;

        for (m = 0; m < REPLAY_MODELS; m++) {
            if (replay_rows[i].quality[m] > best_q
                || (replay_rows[i].quality[m] == best_q
                    && replay_rows[i].cost[m] < best_c))
            {
                best_q = replay_rows[i].quality[m];
                best_c = replay_rows[i].cost[m];
            }
        }

        or_acc += best_q;
        or_cost += best_c;
    }

    or_acc /= replay_n_rows;

    replay_hull(pts, REPLAY_MODELS, hull, &n_hull);

    printf("replay: RouterBench, %u complete rows (%u incomplete skipped) "
           "from %s/{arc_challenge,mbpp,winograde}_{train,test}.csv, "
           "%d models\n", replay_n_rows, replay_incomplete, conf.dir,
           REPLAY_MODELS);
    printf("  rows per task: arc_challenge %u, mbpp %u, winograde %u\n\n",
           replay_task_rows[0], replay_task_rows[1], replay_task_rows[2]);

    printf("baselines over the same rows (%% of always-%s):\n",
           REPLAY_REF_MODEL);
    printf("  %-38s %8s %7s %9s %7s\n", "", "accuracy", "%acc", "cost $",
           "%cost");

    for (m = 0; m < REPLAY_MODELS; m++) {
        for (k = 0; k < n_hull; k++) {
            if (hull[k].cost == pts[m].cost
                && hull[k].accuracy == pts[m].accuracy)
            {
                break;
            }
        }

        printf("  %-38s %8.4f %6.1f%% %9.3f %6.1f%%%s\n", replay_models[m],
               model_acc[m], 100 * model_acc[m] / ref_acc, model_cost[m],
               100 * model_cost[m] / ref_cost,
               k < n_hull ? "  hull" : "");
    }

    printf("  %-38s %8.4f %6.1f%% %9.3f %6.1f%%\n",
           "always " REPLAY_REF_MODEL, ref_acc, 100.0, ref_cost, 100.0);
    snprintf(name, sizeof(name), "best single model (%s)",
             replay_models[best]);
    printf("  %-38s %8.4f %6.1f%% %9.3f %6.1f%%\n", name, model_acc[best],
           100 * model_acc[best] / ref_acc, model_cost[best],
           100 * model_cost[best] / ref_cost);
    printf("  %-38s %8.4f %6.1f%% %9.3f %6.1f%%\n", "random (expected)",
           rand_acc, 100 * rand_acc / ref_acc, rand_cost,
           100 * rand_cost / ref_cost);
    printf("  %-38s %8.4f %6.1f%% %9.3f %6.1f%%\n",
           "oracle per prompt (cheapest correct)", or_acc,
           100 * or_acc / ref_acc, or_cost, 100 * or_cost / ref_cost);

    printf("\nrouter: %s, alpha %g, ridge %g",
           llmopt_algorithm_name(conf.algorithm), conf.alpha, conf.ridge);

    if (conf.prior_mean != 0) {
        printf(", prior mean %g", conf.prior_mean);
    }

    if (conf.algorithm == LLMOPT_ALG_EPSILON_GREEDY) {
        printf(", epsilon %g", conf.epsilon);
    }

    printf("; features [");

    for (k = 0; k < conf.spec.n; k++) {
        printf("%s%s", k ? ", " : "", llmopt_feature_name(conf.spec.ids[k]));

        if (conf.spec.ids[k] == LLMOPT_FEAT_WORDS) {
            printf("(%u)", conf.spec.word_buckets);
        }
    }

    printf("], d = %u\n", conf.spec.d);
    printf("  reward (llmopt_reward): r = (1 - w) q + w C, q = correct 0/1, "
           "C = ref / (ref + cost), ref = %g USD\n", conf.cost_ref);
    printf("  single online pass, cold start, shuffled order; mean of %u "
           "seeds (1..%u), +- = standard deviation over seeds\n\n",
           conf.seeds, conf.seeds);

    /* the sweep */

    memset(inproc, 0, sizeof(inproc));

    for (j = 0; j < conf.n_weights; j++) {
        op = &ops[j];
        op->weight = conf.weights[j];
        op->mean_accuracy = 0;
        op->mean_cost = 0;

        for (k = 0; k < conf.seeds; k++) {
            replay_run(&conf, op->weight, k + 1, &op->accuracy[k],
                       &op->cost[k]);

            if (conf.measured != NULL) {
                const replay_measured_t  *me;

                me = replay_find_measured(op->weight, k + 1);

                if (me == NULL) {
                    fprintf(stderr, "replay: %s has no point for w %g, "
                            "seed %u\n", conf.measured, op->weight, k + 1);
                    return 1;
                }

                inproc[j].accuracy += op->accuracy[k] / conf.seeds;
                inproc[j].cost += op->cost[k] / conf.seeds;
                inseed[j][k].accuracy = op->accuracy[k];
                inseed[j][k].cost = op->cost[k];
                op->accuracy[k] = me->accuracy;
                op->cost[k] = me->cost;
            }

            op->mean_accuracy += op->accuracy[k] / conf.seeds;
            op->mean_cost += op->cost[k] / conf.seeds;
        }

        a = 0;
        c = 0;

        for (k = 0; k < conf.seeds; k++) {
            a += (op->accuracy[k] - op->mean_accuracy)
                 * (op->accuracy[k] - op->mean_accuracy);
            c += (op->cost[k] - op->mean_cost)
                 * (op->cost[k] - op->mean_cost);
        }

        op->sd_accuracy = conf.seeds > 1 ? sqrt(a / (conf.seeds - 1)) : 0;
        op->sd_cost = conf.seeds > 1 ? sqrt(c / (conf.seeds - 1)) : 0;
        op->hull = replay_hull_at(hull, n_hull, op->mean_cost);
        op->above = op->mean_accuracy > op->hull;

        replay_task_best(&conf, op->weight, &op->task_accuracy,
                         &op->task_cost);

        rpts[j].cost = op->mean_cost;
        rpts[j].accuracy = op->mean_accuracy;
    }

    if (conf.measured != NULL) {
        unsigned  within_acc, within_cost;
        double    sea, sec, va, vc, wa, wc;

        /*
         * The difference of the means against its standard error, from
         * the spread over seeds of both runs: "within noise" when it is
         * at most 2 standard errors.
         */

        printf("measured end to end (%s) beside the in-process run of the "
               "same rows, order, weights and seeds (mean of %u seeds):\n",
               conf.measured, conf.seeds);
        printf("  %5s %10s %10s   %10s %10s   %8s %6s %9s %6s\n", "w",
               "e2e acc", "e2e cost", "core acc", "core cost", "d acc",
               "d/se", "d cost $", "d/se");

        within_acc = 0;
        within_cost = 0;

        for (j = 0; j < conf.n_weights; j++) {
            va = vc = wa = wc = 0;

            for (k = 0; k < conf.seeds; k++) {
                va += (ops[j].accuracy[k] - ops[j].mean_accuracy)
                      * (ops[j].accuracy[k] - ops[j].mean_accuracy);
                vc += (ops[j].cost[k] - ops[j].mean_cost)
                      * (ops[j].cost[k] - ops[j].mean_cost);
                wa += (inseed[j][k].accuracy - inproc[j].accuracy)
                      * (inseed[j][k].accuracy - inproc[j].accuracy);
                wc += (inseed[j][k].cost - inproc[j].cost)
                      * (inseed[j][k].cost - inproc[j].cost);
            }

            if (conf.seeds > 1) {
                sea = sqrt((va + wa) / (conf.seeds - 1) / conf.seeds);
                sec = sqrt((vc + wc) / (conf.seeds - 1) / conf.seeds);

            } else {
                sea = sec = 0;
            }

            a = ops[j].mean_accuracy - inproc[j].accuracy;
            c = ops[j].mean_cost - inproc[j].cost;

            within_acc += sea > 0 && fabs(a) <= 2 * sea;
            within_cost += sec > 0 && fabs(c) <= 2 * sec;

            printf("  %5.3f %10.4f %10.3f   %10.4f %10.3f   %+8.4f %6.1f "
                   "%+9.3f %6.1f\n", ops[j].weight, ops[j].mean_accuracy,
                   ops[j].mean_cost, inproc[j].accuracy, inproc[j].cost, a,
                   sea > 0 ? a / sea : 0.0, c, sec > 0 ? c / sec : 0.0);
        }

        printf("  within noise (|d| <= 2 standard errors of the difference, "
               "from the seeds' spread): accuracy %u of %u weights, cost "
               "%u of %u\n", within_acc, conf.n_weights, within_cost,
               conf.n_weights);
        printf("\nthe figures below are the end-to-end ones\n\n");
    }

    printf("operating points (cost weight w); \"task-best\": the best "
           "model per task for the same reward, in hindsight:\n");
    printf("  %5s %8s %7s %7s %9s %7s %7s %9s %6s   %-15s\n", "w",
           "accuracy", "+-", "%acc", "cost $", "+-", "%cost", "hull acc",
           "above", "task-best %acc/%cost");

    n_above = 0;

    for (j = 0; j < conf.n_weights; j++) {
        op = &ops[j];
        n_above += op->above;

        if (conf.seeds > 1) {
            snprintf(sd_acc, sizeof(sd_acc), "%.4f", op->sd_accuracy);
            snprintf(sd_cost, sizeof(sd_cost), "%.3f", op->sd_cost);

        } else {
            strcpy(sd_acc, "-");
            strcpy(sd_cost, "-");
        }

        printf("  %5.3f %8.4f %7s %6.1f%% %9.3f %7s %6.1f%% %9.4f %6s"
               "   %5.1f%% / %4.1f%%\n",
               op->weight, op->mean_accuracy, sd_acc,
               100 * op->mean_accuracy / ref_acc, op->mean_cost,
               sd_cost, 100 * op->mean_cost / ref_cost, op->hull,
               op->above ? "yes" : "no",
               100 * op->task_accuracy / ref_acc,
               100 * op->task_cost / ref_cost);
    }

    /*
     * The share of the router's cost range where the line through its
     * points, sorted by cost, lies above the models' hull; sampled finely.
     */

    qsort(rpts, conf.n_weights, sizeof(replay_point_t), replay_point_cmp);

    range_above = 0;
    range_all = 0;

    for (j = 0; j + 1 < conf.n_weights; j++) {
        double  dc = rpts[j + 1].cost - rpts[j].cost;

        for (k = 0; k < 1000; k++) {
            s = (k + 0.5) / 1000;
            c = rpts[j].cost + s * dc;
            a = rpts[j].accuracy
                + s * (rpts[j + 1].accuracy - rpts[j].accuracy);
            range_all += dc / 1000;

            if (a > replay_hull_at(hull, n_hull, c)) {
                range_above += dc / 1000;
            }
        }
    }

    printf("\nabove the hull of the %d single models: %u of %u points; "
           "%.1f%% of the router's cost range [%.3f, %.3f] $\n",
           REPLAY_MODELS, n_above, conf.n_weights,
           range_all > 0 ? 100 * range_above / range_all : 0.0,
           rpts[0].cost, rpts[conf.n_weights - 1].cost);

    printf("  models' hull:");

    for (k = 0; k < n_hull; k++) {
        printf(" (%.3f $, %.4f)", hull[k].cost, hull[k].accuracy);
    }

    printf("\n");

    replay_hull(rpts, conf.n_weights, rhull, &n_rhull);

    /* AIQ over the cost range both curves cover */

    hull_lo = hull[0].cost;
    hull_hi = hull[n_hull - 1].cost;
    lo = hull_lo > rpts[0].cost ? hull_lo : rpts[0].cost;
    hi = hull_hi < rpts[conf.n_weights - 1].cost
         ? hull_hi : rpts[conf.n_weights - 1].cost;

    if (hi > lo) {
        printf("AIQ over [%.3f, %.3f] $ (the range both cover): router "
               "%.4f, single models' hull %.4f\n", lo, hi,
               replay_aiq(rhull, n_rhull, lo, hi),
               replay_aiq(hull, n_hull, lo, hi));

    } else {
        printf("AIQ: the router's and the models' cost ranges do not "
               "overlap\n");
    }

    /* the acceptance targets */

    op1 = NULL;
    op2 = NULL;

    for (j = 0; j < conf.n_weights; j++) {
        op = &ops[j];
        a = 100 * op->mean_accuracy / ref_acc;
        c = 100 * op->mean_cost / ref_cost;

        if (a >= 92 && c <= 25 && (op1 == NULL || a > 100 * op1->mean_accuracy
                                                      / ref_acc))
        {
            op1 = op;
        }

        if (a >= 95 && c <= 45 && (op2 == NULL || a > 100 * op2->mean_accuracy
                                                      / ref_acc))
        {
            op2 = op;
        }
    }

    met1 = op1 != NULL;
    met2 = op2 != NULL;

    printf("\n");

    for (k = 0; k < 2; k++) {
        op = k == 0 ? op1 : op2;

        printf("target %u (>= %d%% of always-gpt-4 accuracy at <= %d%% of "
               "its cost): ", k + 1, k == 0 ? 92 : 95, k == 0 ? 25 : 45);

        if (op != NULL) {
            printf("met at w = %.3f: %.1f%% accuracy at %.1f%% cost\n",
                   op->weight, 100 * op->mean_accuracy / ref_acc,
                   100 * op->mean_cost / ref_cost);
            continue;
        }

        /* the closest point: the most accurate within the cost bound */

        op = NULL;

        for (j = 0; j < conf.n_weights; j++) {
            if (100 * ops[j].mean_cost / ref_cost <= (k == 0 ? 25 : 45)
                && (op == NULL || ops[j].mean_accuracy > op->mean_accuracy))
            {
                op = &ops[j];
            }
        }

        if (op != NULL) {
            printf("NOT met; best within the cost bound: w = %.3f, "
                   "%.1f%% accuracy at %.1f%% cost\n", op->weight,
                   100 * op->mean_accuracy / ref_acc,
                   100 * op->mean_cost / ref_cost);

        } else {
            printf("NOT met; no point within the cost bound\n");
        }
    }

    elapsed = replay_now() - t0;

    printf("\n%u runs (%u weights x %u seeds) of %u decisions in %.1f s\n",
           conf.n_weights * conf.seeds, conf.n_weights, conf.seeds,
           replay_n_rows, elapsed);

    (void) met1;
    (void) met2;

    return 0;
}


static int
replay_options(replay_conf_t *conf, int argc, char **argv)
{
    int          i, id;
    char        *end;
    const char  *opt, *val;

    memset(conf, 0, sizeof(replay_conf_t));

    conf->dir = "../shared/data/routerbench";
    conf->algorithm = LLMOPT_ALG_LINUCB;
    conf->alpha = 0.5;
    conf->ridge = 0.1;
    conf->epsilon = 0.05;
    conf->cost_ref = 0.003;
    conf->prior_mean = 0.9;
    conf->seeds = 5;
    conf->word_buckets = 3;

    if (replay_weights(conf, "0.04,0.06,0.08,0.09,0.1,0.11,0.12,0.13,0.14,"
                             "0.15,0.16,0.17,0.18,0.19,0.2,0.21,0.22,0.24,"
                             "0.26,0.3,0.4,0.5")
        != 0)
    {
        return -1;
    }

    for (i = 1; i < argc; i++) {
        opt = argv[i];

        if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
            replay_usage();
            exit(0);
        }

        if (opt[0] != '-') {
            conf->dir = opt;
            continue;
        }

        if (i + 1 >= argc) {
            fprintf(stderr, "replay: option %s needs a value\n", opt);
            return -1;
        }

        val = argv[++i];
        end = (char *) val + strlen(val);     /* numbers set their own */
        errno = 0;

        if (strcmp(opt, "--data") == 0) {
            conf->dir = val;

        } else if (strcmp(opt, "--algorithm") == 0) {
            id = llmopt_algorithm_lookup(val, strlen(val));

            if (id < 0 || id == LLMOPT_ALG_STATIC) {
                fprintf(stderr, "replay: unknown algorithm \"%s\"\n", val);
                return -1;
            }

            conf->algorithm = (llmopt_algorithm_e) id;

        } else if (strcmp(opt, "--alpha") == 0) {
            conf->alpha = strtod(val, &end);

        } else if (strcmp(opt, "--ridge") == 0) {
            conf->ridge = strtod(val, &end);

        } else if (strcmp(opt, "--prior-mean") == 0) {
            conf->prior_mean = strtod(val, &end);

            if (!(conf->prior_mean >= 0 && conf->prior_mean <= 1)) {
                fprintf(stderr, "replay: --prior-mean is from 0 to 1\n");
                return -1;
            }

        } else if (strcmp(opt, "--epsilon") == 0) {
            conf->epsilon = strtod(val, &end);

        } else if (strcmp(opt, "--cost-ref") == 0) {
            conf->cost_ref = strtod(val, &end);

        } else if (strcmp(opt, "--seeds") == 0) {
            conf->seeds = (unsigned) strtoul(val, &end, 10);

            if (conf->seeds == 0 || conf->seeds > REPLAY_MAX_SEEDS) {
                fprintf(stderr, "replay: --seeds is 1 to %d\n",
                        REPLAY_MAX_SEEDS);
                return -1;
            }

        } else if (strcmp(opt, "--words") == 0) {
            conf->word_buckets = (unsigned) strtoul(val, &end, 10);

        } else if (strcmp(opt, "--features") == 0) {
            if (replay_features(conf, val) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--weights") == 0) {
            if (replay_weights(conf, val) != 0) {
                return -1;
            }

        } else if (strcmp(opt, "--export") == 0) {
            conf->export_dir = val;

        } else if (strcmp(opt, "--measured") == 0) {
            conf->measured = val;

        } else if (strcmp(opt, "--catalog") == 0) {
            conf->catalog = val;

        } else if (strcmp(opt, "--policy") == 0) {
            conf->policy = val;

        } else if (strcmp(opt, "--requests") == 0) {
            conf->requests = val;

        } else if (strcmp(opt, "--outcomes") == 0) {
            conf->outcomes = val;

        } else {
            fprintf(stderr, "replay: unknown option %s\n", opt);
            replay_usage();
            return -1;
        }

        if (errno != 0 || *end != '\0') {
            fprintf(stderr, "replay: bad value \"%s\" for %s\n", val, opt);
            return -1;
        }
    }

    if (conf->spec.n == 0
        && replay_features(conf, "bias,input_tokens,messages,has_code,"
                                 "has_tools,hour")
           != 0)
    {
        return -1;
    }

    conf->spec.word_buckets = conf->word_buckets;

    if (conf->prior_mean != 0) {
        /* on the bias, as the catalog puts it */

        llmopt_feature_spec_t  before;

        before = conf->spec;

        for (before.n = 0; before.n < conf->spec.n; before.n++) {
            if (conf->spec.ids[before.n] == LLMOPT_FEAT_BIAS) {
                break;
            }
        }

        if (before.n == conf->spec.n) {
            fprintf(stderr, "replay: --prior-mean needs the bias feature\n");
            return -1;
        }

        (void) llmopt_feature_spec_finish(&before, NULL);
        conf->prior_index = before.d;
    }

    return 0;
}


static int
replay_features(replay_conf_t *conf, const char *list)
{
    int          id;
    size_t       n;
    const char  *p;

    conf->spec.n = 0;
    p = list;

    while (*p != '\0') {
        n = strcspn(p, ",");
        id = llmopt_feature_lookup(p, n);

        if (id < 0 || conf->spec.n == LLMOPT_FEATURE_MAX_IDS) {
            fprintf(stderr, "replay: unknown feature \"%.*s\"\n", (int) n,
                    p);
            return -1;
        }

        conf->spec.ids[conf->spec.n++] = (llmopt_feature_e) id;
        p += n;

        if (*p == ',') {
            p++;
        }
    }

    if (conf->spec.n == 0) {
        fprintf(stderr, "replay: --features is empty\n");
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
        "usage: replay [options] [routerbench-dir]\n"
        "  --data DIR         RouterBench CSVs (../shared/data/routerbench)\n"
        "  --algorithm NAME   linucb (default), lin_ts, thompson, ucb1,\n"
        "                     epsilon_greedy\n"
        "  --alpha X          linucb width, lin_ts scale, ucb1 width "
        "(0.5)\n"
        "  --ridge X          ridge prior of the linear bandits (0.1)\n"
        "  --prior-mean X     the linear bandits' prior mean reward, on\n"
        "                     the bias (0.9; 0 = plain ridge)\n"
        "  --epsilon X        epsilon_greedy (0.05)\n"
        "  --cost-ref USD     reference cost of the reward's cost term "
        "(0.003)\n"
        "  --features LIST    catalog feature names, comma-separated\n"
        "                     (bias,input_tokens,messages,has_code,\n"
        "                     has_tools,hour)\n"
        "  --words K          buckets of the words feature (3)\n"
        "  --weights LIST     cost weights w to sweep, comma-separated\n"
        "  --seeds N          seeds 1..N (5)\n"
        "  --export DIR       write the rows (bodies, correctness, costs,\n"
        "                     answers) and each seed's order, and stop\n"
        "  --measured FILE    \"weight seed accuracy cost\" lines measured\n"
        "                     elsewhere (replay --e2e): reported beside\n"
        "                     the in-process run\n"
        "  --catalog FILE --policy NAME --requests FILE\n"
        "                     the arm the policy decides for each request\n"
        "                     (one OpenAI body a line), as nginx would\n"
        "  --outcomes FILE    with --catalog: \"<arm> <status> <latency ms>\"\n"
        "                     lines, how each arm answers; the breakers\n"
        "                     and the latency SLO learn from them\n");
}


/*
 * Reads one CSV file, keeps its complete rows: all 11 correctness and cost
 * values present.  The first file fixes the model names and their order.
 */

static int
replay_load(const replay_conf_t *conf, const char *file, unsigned task)
{
    int                rc;
    char               path[1024], cost_name[256], *data, *p, *end;
    char              *fields[REPLAY_MAX_COLUMNS];
    char              *header[REPLAY_MAX_COLUMNS];
    size_t             len;
    unsigned           n, n_header, i, m, k, prompt_col, line;
    unsigned           q_col[REPLAY_MODELS], c_col[REPLAY_MODELS];
    unsigned           r_col[REPLAY_MODELS];
    unsigned           found, complete;
    replay_row_t       row, *grown;
    llmopt_err_t       err;
    llmopt_request_t   req;
    llmopt_json_tok_t  toks[REPLAY_TOKS];

    snprintf(path, sizeof(path), "%s/%s", conf->dir, file);

    data = replay_read(path, &len);
    if (data == NULL) {
        return -1;
    }

    p = data;
    end = data + len;

    if (replay_csv_record(&p, end, header, REPLAY_MAX_COLUMNS, &n_header)
        != 0)
    {
        fprintf(stderr, "replay: %s: bad header\n", path);
        return -1;
    }

    prompt_col = n_header;

    for (i = 0; i < n_header; i++) {
        if (strcmp(header[i], "prompt") == 0) {
            prompt_col = i;
        }
    }

    /* the models: columns X for which "X|total_cost" exists too */

    found = 0;

    for (i = 0; i < n_header; i++) {
        snprintf(cost_name, sizeof(cost_name), "%s|total_cost", header[i]);

        for (k = 0; k < n_header; k++) {
            if (strcmp(header[k], cost_name) == 0) {
                break;
            }
        }

        if (k == n_header) {
            continue;
        }

        if (found == REPLAY_MODELS) {
            fprintf(stderr, "replay: %s: more than %d models\n", path,
                    REPLAY_MODELS);
            return -1;
        }

        if (replay_models[found] == NULL) {
            replay_models[found] = strdup(header[i]);

            if (replay_models[found] == NULL) {
                return -1;
            }

            if (strcmp(header[i], REPLAY_REF_MODEL) == 0) {
                replay_ref = found;
            }

        } else if (strcmp(replay_models[found], header[i]) != 0) {
            fprintf(stderr, "replay: %s: model columns differ from the "
                    "first file's\n", path);
            return -1;
        }

        q_col[found] = i;
        c_col[found] = k;

        /* the answers, for --export: "X|model_response" */
        snprintf(cost_name, sizeof(cost_name), "%s|model_response",
                 header[i]);
        r_col[found] = (unsigned) -1;

        for (k = 0; k < n_header; k++) {
            if (strcmp(header[k], cost_name) == 0) {
                r_col[found] = k;
            }
        }

        found++;
    }

    if (found != REPLAY_MODELS || prompt_col == n_header
        || strcmp(replay_models[replay_ref], REPLAY_REF_MODEL) != 0)
    {
        fprintf(stderr, "replay: %s: expected a prompt column and %d "
                "models, %s among them\n", path, REPLAY_MODELS,
                REPLAY_REF_MODEL);
        return -1;
    }

    line = 1;

    while (p < end) {
        line++;

        if (replay_csv_record(&p, end, fields, REPLAY_MAX_COLUMNS, &n)
            != 0 || n != n_header)
        {
            fprintf(stderr, "replay: %s: record %u: bad CSV (%u fields, "
                    "%u expected)\n", path, line, n, n_header);
            return -1;
        }

        complete = 1;

        for (m = 0; m < REPLAY_MODELS; m++) {
            if (replay_number(fields[q_col[m]], &row.quality[m]) != 0
                || replay_number(fields[c_col[m]], &row.cost[m]) != 0)
            {
                complete = 0;
                break;
            }
        }

        if (!complete) {
            replay_incomplete++;
            continue;
        }

        row.task = task;
        row.body = replay_body(fields[prompt_col], &row.len);

        if (row.body == NULL) {
            fprintf(stderr, "replay: %s: record %u: the prompt is not a "
                    "list of strings\n", path, line);
            return -1;
        }

        rc = llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                                  (unsigned char *) row.body, row.len, toks,
                                  REPLAY_TOKS, 64, &err);
        if (rc != LLMOPT_OK) {
            fprintf(stderr, "replay: %s: record %u: the body does not "
                    "parse (%d): %s\n", path, line, rc, err.msg);
            return -1;
        }

        if (replay_n_rows == replay_cap_rows) {
            replay_cap_rows = replay_cap_rows ? 2 * replay_cap_rows : 1024;
            grown = realloc(replay_rows,
                            replay_cap_rows * sizeof(replay_row_t));
            if (grown == NULL) {
                fprintf(stderr, "replay: out of memory\n");
                return -1;
            }

            replay_rows = grown;
        }

        if (replay_export_rows != NULL
            && replay_export_row(&row, fields, r_col) != 0)
        {
            return -1;
        }

        replay_rows[replay_n_rows++] = row;
        replay_task_rows[task]++;
    }

    free(data);

    return 0;
}


static char *
replay_read(const char *path, size_t *len)
{
    long    size;
    char   *data;
    FILE   *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path,
                strerror(errno));
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fprintf(stderr, "replay: cannot read %s: %s\n", path,
                strerror(errno));
        fclose(f);
        return NULL;
    }

    data = malloc((size_t) size + 1);
    if (data == NULL) {
        fclose(f);
        return NULL;
    }

    if (fread(data, 1, (size_t) size, f) != (size_t) size) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        fclose(f);
        free(data);
        return NULL;
    }

    fclose(f);

    data[size] = '\0';
    *len = (size_t) size;

    return data;
}


/*
 * Splits the record at *p into NUL-terminated fields, in place: RFC 4180,
 * quoted fields may hold commas, newlines and "" for a quote.  Moves *p
 * past the record's line end.
 */

static int
replay_csv_record(char **p, char *end, char **fields, unsigned max,
    unsigned *n)
{
    char  *s, *w;

    s = *p;
    *n = 0;

    for ( ;; ) {
        if (*n == max) {
            return -1;
        }

        if (s < end && *s == '"') {
            fields[(*n)++] = ++s;
            w = s;

            for ( ;; ) {
                if (s >= end) {
                    return -1;
                }

                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        *w++ = '"';
                        s += 2;
                        continue;
                    }

                    s++;
                    break;
                }

                *w++ = *s++;
            }

            *w = '\0';

        } else {
            fields[(*n)++] = s;

            while (s < end && *s != ',' && *s != '\n' && *s != '\r') {
                s++;
            }
        }

        if (s < end && *s == ',') {
            *s++ = '\0';
            continue;
        }

        if (s < end && *s == '\r') {
            *s++ = '\0';
        }

        if (s < end && *s == '\n') {
            *s++ = '\0';

        } else if (s < end) {
            return -1;
        }

        *p = s;
        return 0;
    }
}


/* A finite number filling the whole field; -1 for empty, NaN, garbage. */

static int
replay_number(const char *s, double *v)
{
    char  *end;

    if (*s == '\0') {
        return -1;
    }

    errno = 0;
    *v = strtod(s, &end);

    if (errno != 0 || *end != '\0' || !isfinite(*v) || *v < 0) {
        return -1;
    }

    return 0;
}


/*
 * The prompt column is a Python list literal of strings; each string
 * becomes one "user" message of an OpenAI chat body.  Returns the
 * malloc()ed body, or NULL when the literal is not a list of strings.
 */

static char *
replay_body(const char *list, size_t *len)
{
    char        *text, *body, *w;
    size_t       n, cap;
    unsigned     count;
    const char  *p;
    static const char  head[] = "{\"model\":\"llmopt-router\",\"messages\":[";
    static const char  tail[] = "]}";

    p = list;

    while (*p == ' ') {
        p++;
    }

    if (*p++ != '[') {
        return NULL;
    }

    /*
     * Decoded UTF-8 is never longer than the literal, JSON escaping makes
     * at most 6 bytes of one; a literal of cap bytes holds at most cap / 2
     * strings, each a message of REPLAY_MESSAGE_LEN bytes besides its text.
     */

    cap = strlen(list);
    text = malloc(cap + 1);
    body = malloc(sizeof(head) + 6 * cap
                  + REPLAY_MESSAGE_LEN * (cap / 2 + 1) + sizeof(tail));

    if (text == NULL || body == NULL) {
        free(text);
        free(body);
        return NULL;
    }

    w = body;
    memcpy(w, head, sizeof(head) - 1);
    w += sizeof(head) - 1;
    count = 0;

    for ( ;; ) {
        while (*p == ' ' || *p == '\n') {
            p++;
        }

        if (*p == ']' && p[1] == '\0') {
            break;
        }

        if (count > 0) {
            if (*p++ != ',') {
                goto fail;
            }

            while (*p == ' ' || *p == '\n') {
                p++;
            }
        }

        n = replay_py_string(&p, text);
        if (n == (size_t) -1) {
            goto fail;
        }

        w += sprintf(w, "%s{\"role\":\"user\",\"content\":\"",
                     count > 0 ? "," : "");
        w += replay_json_escape(text, n, w);
        *w++ = '"';
        *w++ = '}';
        count++;
    }

    if (count == 0) {
        goto fail;
    }

    memcpy(w, tail, sizeof(tail) - 1);
    w += sizeof(tail) - 1;
    *w = '\0';
    *len = (size_t) (w - body);

    free(text);

    return body;

fail:

    free(text);
    free(body);

    return NULL;
}


/*
 * Decodes one Python string literal ('...' or "...") at *p into out as
 * UTF-8, moving *p past it.  Returns the bytes written, (size_t) -1 when
 * it is not a literal.
 */

static size_t
replay_py_string(const char **p, char *out)
{
    char           quote, *w;
    unsigned       i, digits;
    unsigned long  cp;
    const char    *s;

    s = *p;
    quote = *s++;

    if (quote != '\'' && quote != '"') {
        return (size_t) -1;
    }

    w = out;

    for ( ;; ) {
        if (*s == '\0') {
            return (size_t) -1;
        }

        if (*s == quote) {
            s++;
            break;
        }

        if (*s != '\\') {
            *w++ = *s++;
            continue;
        }

        s++;

        switch (*s) {
        case 'n':  *w++ = '\n'; s++; break;
        case 't':  *w++ = '\t'; s++; break;
        case 'r':  *w++ = '\r'; s++; break;
        case 'a':  *w++ = '\a'; s++; break;
        case 'b':  *w++ = '\b'; s++; break;
        case 'f':  *w++ = '\f'; s++; break;
        case 'v':  *w++ = '\v'; s++; break;
        case '\\': *w++ = '\\'; s++; break;
        case '\'': *w++ = '\''; s++; break;
        case '"':  *w++ = '"';  s++; break;
        case '\n': s++; break;

        case 'x':
        case 'u':
        case 'U':
            digits = (*s == 'x') ? 2 : (*s == 'u') ? 4 : 8;
            s++;
            cp = 0;

            for (i = 0; i < digits; i++) {
                char  c = s[i];

                if (c >= '0' && c <= '9') {
                    cp = cp * 16 + (unsigned long) (c - '0');

                } else if (c >= 'a' && c <= 'f') {
                    cp = cp * 16 + (unsigned long) (c - 'a' + 10);

                } else if (c >= 'A' && c <= 'F') {
                    cp = cp * 16 + (unsigned long) (c - 'A' + 10);

                } else {
                    return (size_t) -1;
                }
            }

            s += digits;
            w += replay_utf8(cp, w);
            break;

        default:
            if (*s >= '0' && *s <= '7') {
                cp = 0;

                for (i = 0; i < 3 && *s >= '0' && *s <= '7'; i++) {
                    cp = cp * 8 + (unsigned long) (*s++ - '0');
                }

                w += replay_utf8(cp, w);
                break;
            }

            *w++ = '\\';            /* Python keeps unknown escapes */
            break;
        }
    }

    *p = s;

    return (size_t) (w - out);
}


/* UTF-8 of a code point; a surrogate or one beyond U+10FFFF gives U+FFFD. */

static size_t
replay_utf8(unsigned long cp, char *out)
{
    unsigned char  *u;

    u = (unsigned char *) out;

    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
        cp = 0xfffd;
    }

    if (cp < 0x80) {
        u[0] = (unsigned char) cp;
        return 1;
    }

    if (cp < 0x800) {
        u[0] = (unsigned char) (0xc0 | (cp >> 6));
        u[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        u[0] = (unsigned char) (0xe0 | (cp >> 12));
        u[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }

    u[0] = (unsigned char) (0xf0 | (cp >> 18));
    u[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
    u[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
    u[3] = (unsigned char) (0x80 | (cp & 0x3f));

    return 4;
}


/* A JSON string's contents for UTF-8 text s; at most 6 bytes per byte. */

static size_t
replay_json_escape(const char *s, size_t n, char *out)
{
    char           *w;
    size_t          i;
    unsigned char   c;

    w = out;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        switch (c) {
        case '"':  *w++ = '\\'; *w++ = '"';  break;
        case '\\': *w++ = '\\'; *w++ = '\\'; break;
        case '\n': *w++ = '\\'; *w++ = 'n';  break;
        case '\r': *w++ = '\\'; *w++ = 'r';  break;
        case '\t': *w++ = '\\'; *w++ = 't';  break;

        default:
            if (c < 0x20) {
                w += sprintf(w, "\\u%04x", c);

            } else {
                *w++ = (char) c;
            }
        }
    }

    return (size_t) (w - out);
}


/* The order of the rows in the pass of a seed: a Fisher-Yates shuffle. */

static void
replay_shuffle(unsigned *order, uint64_t seed)
{
    unsigned      i, j, tmp;
    llmopt_rng_t  shuffle;

    llmopt_rng_seed(&shuffle, seed ^ REPLAY_SHUFFLE_SALT);

    for (i = 0; i < replay_n_rows; i++) {
        order[i] = i;
    }

    for (i = replay_n_rows; i > 1; i--) {
        j = llmopt_rng_below(&shuffle, i);
        tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}


/*
 * --export: one JSON line per complete row (rows.jsonl, row index = line
 * number from 0): {"task":..,"body":<the request body, a string>,
 * "correct":[..],"cost":[..],"answer":[..]} in model order; models.txt;
 * order-<seed>.txt: each seed's row order, one index a line.
 */

static int
replay_export_row(const replay_row_t *row, char **fields, const unsigned *r_col)
{
    char      *esc;
    size_t     n, len;
    unsigned   m;

    len = row->len;

    for (m = 0; m < REPLAY_MODELS; m++) {
        if (r_col[m] != (unsigned) -1 && fields[r_col[m]] != NULL) {
            n = strlen(fields[r_col[m]]);
            len = n > len ? n : len;
        }
    }

    esc = malloc(6 * len + 16);
    if (esc == NULL) {
        return -1;
    }

    n = replay_json_escape(row->body, row->len, esc);
    fprintf(replay_export_rows, "{\"task\":\"%s\",\"body\":\"%.*s\","
            "\"correct\":[", replay_files[row->task], (int) n, esc);

    for (m = 0; m < REPLAY_MODELS; m++) {
        fprintf(replay_export_rows, "%s%g", m ? "," : "", row->quality[m]);
    }

    fprintf(replay_export_rows, "],\"cost\":[");

    for (m = 0; m < REPLAY_MODELS; m++) {
        fprintf(replay_export_rows, "%s%.12g", m ? "," : "", row->cost[m]);
    }

    fprintf(replay_export_rows, "],\"answer\":[");

    for (m = 0; m < REPLAY_MODELS; m++) {
        const char  *a = r_col[m] != (unsigned) -1 && fields[r_col[m]]
                         ? fields[r_col[m]] : "";

        n = replay_json_escape(a, strlen(a), esc);
        fprintf(replay_export_rows, "%s\"%.*s\"", m ? "," : "", (int) n,
                esc);
    }

    fprintf(replay_export_rows, "]}\n");
    free(esc);

    return ferror(replay_export_rows) ? -1 : 0;
}


static int
replay_export(const replay_conf_t *conf)
{
    char       path[1024];
    FILE      *f;
    unsigned   i, s, *order;

    if (fclose(replay_export_rows) != 0) {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/models.txt", conf->export_dir);
    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }

    for (i = 0; i < REPLAY_MODELS; i++) {
        fprintf(f, "%s\n", replay_models[i]);
    }

    fclose(f);

    order = malloc(replay_n_rows * sizeof(unsigned));
    if (order == NULL) {
        return -1;
    }

    for (s = 1; s <= conf->seeds; s++) {
        replay_shuffle(order, s);

        snprintf(path, sizeof(path), "%s/order-%u.txt", conf->export_dir, s);
        f = fopen(path, "w");
        if (f == NULL) {
            free(order);
            return -1;
        }

        for (i = 0; i < replay_n_rows; i++) {
            fprintf(f, "%u\n", order[i]);
        }

        fclose(f);
    }

    free(order);

    printf("replay: exported %u rows, %d models and %u orders to %s\n",
           replay_n_rows, REPLAY_MODELS, conf->seeds, conf->export_dir);

    return 0;
}


static int
replay_read_measured(const char *path)
{
    FILE               *f;
    replay_measured_t  *m;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }

    while (replay_n_meas < sizeof(replay_meas) / sizeof(replay_meas[0])) {
        m = &replay_meas[replay_n_meas];

        if (fscanf(f, "%lf %u %lf %lf", &m->weight, &m->seed, &m->accuracy,
                   &m->cost) != 4)
        {
            break;
        }

        replay_n_meas++;
    }

    fclose(f);

    return replay_n_meas ? 0 : -1;
}


static const replay_measured_t *
replay_find_measured(double weight, unsigned seed)
{
    unsigned  i;

    for (i = 0; i < replay_n_meas; i++) {
        if (fabs(replay_meas[i].weight - weight) < 1e-9
            && replay_meas[i].seed == seed)
        {
            return &replay_meas[i];
        }
    }

    return NULL;
}


/*
 * One online pass from cold start over the rows in the order of a
 * shuffle seeded by seed: parse, features, select, reward, update.
 * Returns the accuracy and the total cost (USD) of the choices made.
 */

static void
replay_run(const replay_conf_t *conf, double weight, uint64_t seed,
    double *accuracy, double *cost)
{
    int                    rc;
    void                  *block;
    double                 x[LLMOPT_FEATURE_MAX_DIM], correct, spent;
    unsigned               i, k, *order;
    llmopt_err_t           err;
    llmopt_rng_t           rng;
    llmopt_request_t       req;
    replay_row_t          *row;
    replay_bandit_t        bandit;
    llmopt_guard_need_t    need;
    llmopt_decide_in_t     in;
    llmopt_decide_out_t    out;
    unsigned char          breach[LLMOPT_MAX_ARMS];
    uint64_t               until[LLMOPT_MAX_ARMS];
    llmopt_json_tok_t      toks[REPLAY_TOKS];
    llmopt_bandit_conf_t   bconf;
    llmopt_reward_conf_t   rconf;

    llmopt_bandit_conf_defaults(&bconf);
    bconf.algorithm = conf->algorithm;
    bconf.n_arms = REPLAY_MODELS;
    bconf.d = conf->spec.d;
    bconf.alpha = conf->alpha;
    bconf.lambda = conf->ridge;
    bconf.epsilon = conf->epsilon;
    bconf.prior_mean = conf->prior_mean;
    bconf.prior_index = conf->prior_index;
    bconf.seed = seed;

    replay_reward_conf(conf, weight, &rconf);

    block = malloc(llmopt_bandit_size(&bconf));
    order = malloc(replay_n_rows * sizeof(unsigned));

    if (block == NULL || order == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        exit(1);
    }

    llmopt_bandit_init(&bconf, block);
    llmopt_rng_seed(&rng, seed);
    replay_shuffle(order, seed);

    /* nothing of the zone's state: every circuit closed, no SLO breach */

    memset(breach, 0, sizeof(breach));
    memset(until, 0, sizeof(until));
    memset(&in, 0, sizeof(llmopt_decide_in_t));

    bandit.conf = &bconf;
    bandit.block = block;

    in.catalog = &replay_cat;
    in.policy = replay_pol;
    in.x = x;
    in.slo_breach = breach;
    in.breaker_until = until;
    in.canary_share = -1;
    in.rng = &rng;
    in.select = replay_select;
    in.data = &bandit;

    correct = 0;
    spent = 0;

    for (i = 0; i < replay_n_rows; i++) {
        row = &replay_rows[order[i]];

        rc = llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                                  (unsigned char *) row->body, row->len,
                                  toks, REPLAY_TOKS, 64, &err);
        if (rc != LLMOPT_OK) {
            fprintf(stderr, "replay: parse failed: %s\n", err.msg);
            exit(1);
        }

        llmopt_features_build(&conf->spec, &req, NULL, x);

        llmopt_guard_need(&req, &need);
        in.need = &need;

        if (llmopt_decide(&in, &out) != LLMOPT_DECIDE_OK
            || out.reason != LLMOPT_DECIDE_BANDIT)
        {
            fprintf(stderr, "replay: select failed\n");
            exit(1);
        }

        k = out.arm;
        correct += row->quality[k];
        spent += row->cost[k];

        llmopt_bandit_update(&bconf, block, k, x,
                             replay_reward(&rconf, k, row->quality[k],
                                           row->cost[k]));
    }

    free(block);
    free(order);

    *accuracy = correct / replay_n_rows;
    *cost = spent;
}


/*
 * The reward configuration of a policy that weighs quality 1 - weight and
 * cost weight, latency not at all.
 */

static void
replay_reward_conf(const replay_conf_t *conf, double weight,
    llmopt_reward_conf_t *rconf)
{
    memset(rconf, 0, sizeof(llmopt_reward_conf_t));

    rconf->quality = 1 - weight;
    rconf->cost = weight;
    rconf->latency = 0;
    rconf->cost_ref = conf->cost_ref;
    rconf->latency_ref = 0;
}


/*
 * The reward the core gives an answer of the data set: the OUTCOME event
 * the trainer would see (a 200 that finished normally, its cost, the
 * correctness as the explicit quality score, latency unknown) scored by
 * llmopt_reward().
 */

static double
replay_reward(const llmopt_reward_conf_t *rconf, unsigned arm,
    double quality, double cost)
{
    llmopt_event_t   ev;
    llmopt_reward_t  reward;

    memset(&ev, 0, sizeof(llmopt_event_t));

    ev.kind = LLMOPT_EVENT_OUTCOME;
    ev.status = 200;
    ev.finish = LLMOPT_FINISH_STOP;
    ev.arm = (uint16_t) arm;
    ev.cost = cost;
    ev.quality = (float) quality;
    ev.latency_ms = -1;
    ev.ttft_ms = -1;

    if (llmopt_reward(rconf, &ev, &reward) != LLMOPT_OK) {
        fprintf(stderr, "replay: the core declined to score an outcome\n");
        exit(1);
    }

    return reward.reward;
}


/*
 * In hindsight, per task (data set file), the single model of the highest
 * mean reward under the same weight: what a static per-task route, knowing
 * every answer in advance, would get.  Accuracy and total cost (USD).
 */

static void
replay_task_best(const replay_conf_t *conf, double weight, double *accuracy,
    double *cost)
{
    double                 sum[REPLAY_MODELS], q[REPLAY_MODELS];
    double                 c[REPLAY_MODELS];
    unsigned               i, m, t, best;
    replay_row_t          *row;
    llmopt_reward_conf_t   rconf;

    replay_reward_conf(conf, weight, &rconf);

    *accuracy = 0;
    *cost = 0;

    for (t = 0; t < REPLAY_TASKS; t++) {
        for (m = 0; m < REPLAY_MODELS; m++) {
            sum[m] = 0;
            q[m] = 0;
            c[m] = 0;
        }

        for (i = 0; i < replay_n_rows; i++) {
            row = &replay_rows[i];

            if (row->task != t) {
                continue;
            }

            for (m = 0; m < REPLAY_MODELS; m++) {
                sum[m] += replay_reward(&rconf, m, row->quality[m],
                                        row->cost[m]);
                q[m] += row->quality[m];
                c[m] += row->cost[m];
            }
        }

        best = 0;

        for (m = 1; m < REPLAY_MODELS; m++) {
            if (sum[m] > sum[best]) {
                best = m;
            }
        }

        *accuracy += q[best];
        *cost += c[best];
    }

    *accuracy /= replay_n_rows;
}


/*
 * The non-decreasing upper convex hull of points in the cost-accuracy
 * plane: the most accurate point, and to its left the upper hull of the
 * points cheaper than it (a mix of two routes, chosen at random per
 * request, reaches any point of the segment between them).
 */

static void
replay_hull(const replay_point_t *pts, unsigned n, replay_point_t *hull,
    unsigned *n_hull)
{
    double          cross;
    unsigned        i, h, top;
    replay_point_t  sorted[REPLAY_MAX_WEIGHTS + REPLAY_MODELS];

    memcpy(sorted, pts, n * sizeof(replay_point_t));
    qsort(sorted, n, sizeof(replay_point_t), replay_point_cmp);

    /* the most accurate, cheapest first among equals */

    top = 0;

    for (i = 1; i < n; i++) {
        if (sorted[i].accuracy > sorted[top].accuracy) {
            top = i;
        }
    }

    h = 0;

    for (i = 0; i <= top; i++) {
        /* a point not more accurate than a cheaper one is dominated */

        if (h > 0 && sorted[i].accuracy <= hull[h - 1].accuracy) {
            continue;
        }

        while (h >= 2) {
            cross = (hull[h - 1].cost - hull[h - 2].cost)
                    * (sorted[i].accuracy - hull[h - 2].accuracy)
                    - (hull[h - 1].accuracy - hull[h - 2].accuracy)
                      * (sorted[i].cost - hull[h - 2].cost);

            if (cross < 0) {
                break;
            }

            h--;
        }

        hull[h++] = sorted[i];
    }

    *n_hull = h;
}


/*
 * The hull's accuracy at a cost: linear between vertices, the most
 * accurate vertex's beyond it, the cheapest vertex's below it (a
 * conservative extension: no single model is that cheap).
 */

static double
replay_hull_at(const replay_point_t *hull, unsigned n, double cost)
{
    double    s;
    unsigned  i;

    if (cost <= hull[0].cost) {
        return hull[0].accuracy;
    }

    for (i = 1; i < n; i++) {
        if (cost <= hull[i].cost) {
            s = (cost - hull[i - 1].cost) / (hull[i].cost - hull[i - 1].cost);
            return hull[i - 1].accuracy
                   + s * (hull[i].accuracy - hull[i - 1].accuracy);
        }
    }

    return hull[n - 1].accuracy;
}


/*
 * AIQ: the mean of a hull's accuracy over the cost range [lo, hi], i.e.
 * the area under it divided by hi - lo; 0 below its cheapest vertex (no
 * point is measured there), flat beyond its most accurate one.
 */

static double
replay_aiq(const replay_point_t *hull, unsigned n, double lo, double hi)
{
    double    area, a, b, fa, fb;
    unsigned  i;

    if (!(hi > lo)) {
        return 0;
    }

    area = 0;

    for (i = 0; i + 1 < n; i++) {
        a = hull[i].cost > lo ? hull[i].cost : lo;
        b = hull[i + 1].cost < hi ? hull[i + 1].cost : hi;

        if (b > a) {
            fa = replay_hull_at(hull, n, a);
            fb = replay_hull_at(hull, n, b);
            area += (b - a) * (fa + fb) / 2;
        }
    }

    a = hull[n - 1].cost > lo ? hull[n - 1].cost : lo;

    if (hi > a) {
        area += (hi - a) * hull[n - 1].accuracy;
    }

    return area / (hi - lo);
}


static int
replay_point_cmp(const void *a, const void *b)
{
    const replay_point_t  *p = a, *q = b;

    if (p->cost != q->cost) {
        return p->cost < q->cost ? -1 : 1;
    }

    if (p->accuracy != q->accuracy) {
        return p->accuracy > q->accuracy ? -1 : 1;
    }

    return 0;
}


static double
replay_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/*
 * The policy of the replay for llmopt_decide(): the data set's models as
 * its arms, in their order, with no guardrail (the data set has neither
 * context windows nor latencies); the choice is the replay's bandit's.
 */

static int
replay_policy(void)
{
    int             n;
    char           *text;
    size_t          size, len;
    unsigned        m;
    llmopt_err_t    err;
    llmopt_alloc_t  alloc = { replay_alloc, NULL };

    size = 256 + REPLAY_MODELS * 320;
    text = malloc(size);

    if (text == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        return 1;
    }

    len = snprintf(text, size, "models:\n");

    for (m = 0; m < REPLAY_MODELS; m++) {
        n = snprintf(text + len, size - len, "  \"%s\": {upstream: u, "
                     "price: {input: 0, output: 0}}\n", replay_models[m]);
        len += n;
    }

    len += snprintf(text + len, size - len, "policies:\n  replay:\n"
                    "    algorithm: ucb1\n    arms: [");

    for (m = 0; m < REPLAY_MODELS; m++) {
        len += snprintf(text + len, size - len, "%s\"%s\"", m ? ", " : "",
                        replay_models[m]);
    }

    len += snprintf(text + len, size - len, "]\n");

    memset(&err, 0, sizeof(llmopt_err_t));

    if (len >= size
        || llmopt_catalog_load_string(&replay_cat, "replay", text, len,
                                      &alloc, &err)
           != LLMOPT_OK
        || (replay_pol = llmopt_catalog_policy(&replay_cat, "replay", 6))
           == NULL)
    {
        fprintf(stderr, "replay: the policy of the models: %s\n", err.msg);
        free(text);
        return 1;
    }

    free(text);

    return 0;
}


static int
replay_select(void *data, const double *x, const unsigned char *allowed,
    llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    replay_bandit_t *b = data;

    return llmopt_bandit_select(b->conf, b->block, x, allowed, rng, choice);
}


static void *
replay_alloc(void *ctx, size_t size)
{
    return calloc(1, size);
}

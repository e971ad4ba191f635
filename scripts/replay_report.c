/*
 * Copyright (C) llmopt authors
 *
 * replay's figures: the baselines of the data set (every single model,
 * the per-prompt oracle, the hull of two-model mixes), each cost weight's
 * mean accuracy and cost with their standard errors, its distance to the
 * hull in standard errors and its stuck runs, the targets; printed, and
 * written as JSON with --json.  docs/REPLAY.md defines each.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_core.h"
#include "llmopt_bandit.h"
#include "llmopt_features.h"
#include "replay.h"


#define REPLAY_TARGETS  2


typedef struct {
    double                 accuracy;    /* share of the best model's */
    double                 cost;
} replay_target_t;


typedef struct {
    replay_point_t         model[REPLAY_MAX_MODELS];
    double                 se_model[REPLAY_MAX_MODELS];
    unsigned               on_hull[REPLAY_MAX_MODELS];
    replay_point_t         hull[REPLAY_MAX_MODELS];
    unsigned               n_hull;
    replay_point_t         oracle;
    unsigned               best;
    int                    target_op[REPLAY_TARGETS];   /* -1: not met */
} replay_figures_t;


static void replay_baselines(const replay_data_t *data,
    replay_figures_t *fig);
static void replay_op_figures(const replay_figures_t *fig, unsigned seeds,
    replay_op_t *op);
static void replay_targets(const replay_figures_t *fig,
    const replay_report_conf_t *rc);
static void replay_print(const replay_data_t *data, const replay_policy_t *rp,
    const replay_figures_t *fig, const replay_report_conf_t *rc);
static const char *replay_side(const replay_op_t *op);
static int replay_json(const replay_data_t *data, const replay_policy_t *rp,
    const replay_figures_t *fig, const replay_report_conf_t *rc);
static void replay_json_string(FILE *f, const char *s);
static void replay_hull(const replay_point_t *pts, unsigned n,
    replay_point_t *hull, unsigned *n_hull);
static double replay_hull_at(const replay_point_t *hull, unsigned n,
    double cost);
static int replay_point_cmp(const void *a, const void *b);


static const replay_target_t  replay_target[REPLAY_TARGETS] = {
    { 0.95, 0.25 }, { 0.97, 0.35 }
};

#define REPLAY_TARGET_SEEDS  20     /* a target is met at a mean of these */


int
replay_report(const replay_data_t *data, const replay_policy_t *rp,
    const replay_report_conf_t *rc)
{
    int               b;
    unsigned          j;
    replay_figures_t  fig;

    memset(&fig, 0, sizeof(replay_figures_t));
    replay_baselines(data, &fig);

    if (rc->best != NULL) {
        b = replay_data_model(data, rc->best);

        if (b < 0) {
            fprintf(stderr, "replay: --best \"%s\" is not a model of the "
                    "data set\n", rc->best);
            return -1;
        }

        fig.best = (unsigned) b;
    }

    for (j = 0; j < rc->n_ops; j++) {
        replay_op_figures(&fig, rc->seeds, &rc->ops[j]);
    }

    replay_targets(&fig, rc);
    replay_print(data, rp, &fig, rc);

    if (rc->json != NULL) {
        return replay_json(data, rp, &fig, rc);
    }

    return 0;
}


void
replay_mean_se(const double *v, unsigned n, double *mean, double *se)
{
    double    s;
    unsigned  i;

    s = 0;

    for (i = 0; i < n; i++) {
        s += v[i];
    }

    *mean = n ? s / n : 0;
    s = 0;

    for (i = 0; i < n; i++) {
        s += (v[i] - *mean) * (v[i] - *mean);
    }

    *se = n > 1 ? sqrt(s / (n - 1) / n) : 0;
}


/*
 * Every single model's accuracy (with its binomial standard error over
 * the rows) and total cost, the hull, the oracle, the most accurate model
 * (the cheaper of equals).
 */

static void
replay_baselines(const replay_data_t *data, replay_figures_t *fig)
{
    double         q, c, best_q, best_c;
    unsigned       i, m, k;
    replay_row_t  *row;

    for (m = 0; m < data->n_models; m++) {
        q = 0;
        c = 0;

        for (i = 0; i < data->n_rows; i++) {
            q += data->rows[i].quality[m];
            c += data->rows[i].cost[m];
        }

        q /= data->n_rows;
        fig->model[m].accuracy = q;
        fig->model[m].cost = c;
        fig->se_model[m] = sqrt(q * (1 - q) / data->n_rows);

        if (q > fig->model[fig->best].accuracy
            || (q == fig->model[fig->best].accuracy
                && c < fig->model[fig->best].cost))
        {
            fig->best = m;
        }
    }

    replay_hull(fig->model, data->n_models, fig->hull, &fig->n_hull);

    for (m = 0; m < data->n_models; m++) {
        for (k = 0; k < fig->n_hull; k++) {
            if (fig->hull[k].cost == fig->model[m].cost
                && fig->hull[k].accuracy == fig->model[m].accuracy)
            {
                fig->on_hull[m] = 1;
            }
        }
    }

    /* the per-prompt oracle: the cheapest correct model, else the cheapest */

    for (i = 0; i < data->n_rows; i++) {
        row = &data->rows[i];
        best_q = -1;
        best_c = INFINITY;

        for (m = 0; m < data->n_models; m++) {
            if (row->quality[m] > best_q
                || (row->quality[m] == best_q && row->cost[m] < best_c))
            {
                best_q = row->quality[m];
                best_c = row->cost[m];
            }
        }

        fig->oracle.accuracy += best_q / data->n_rows;
        fig->oracle.cost += best_c;
    }
}


/*
 * A weight's figures over its seeds.  The distance to the hull is taken
 * per seed, at the seed's own cost, so that its standard error carries
 * the spread of both accuracy and cost.
 */

static void
replay_op_figures(const replay_figures_t *fig, unsigned seeds,
    replay_op_t *op)
{
    double    v[3][REPLAY_MAX_SEEDS], se;
    unsigned  k;

    op->stuck = 0;

    for (k = 0; k < seeds; k++) {
        v[0][k] = op->run[k].accuracy;
        v[1][k] = op->run[k].cost;
        v[2][k] = op->run[k].accuracy
                  - replay_hull_at(fig->hull, fig->n_hull, op->run[k].cost);
        op->stuck += op->run[k].stuck;
    }

    replay_mean_se(v[0], seeds, &op->accuracy, &op->se_accuracy);
    replay_mean_se(v[1], seeds, &op->cost, &op->se_cost);
    replay_mean_se(v[2], seeds, &op->distance, &op->se_distance);

    for (k = 0; k < seeds; k++) {
        v[0][k] = op->run[k].regret;
    }

    replay_mean_se(v[0], seeds, &op->regret, &se);

    op->hull = replay_hull_at(fig->hull, fig->n_hull, op->cost);
}


/* "above", "below" or "on" the hull: by more than 2 standard errors */

static const char *
replay_side(const replay_op_t *op)
{
    if (op->distance > 2 * op->se_distance) {
        return "above";
    }

    if (op->distance < -2 * op->se_distance) {
        return "below";
    }

    return "on";
}


/* the most accurate weight meeting each target, at a mean of enough seeds */

static void
replay_targets(const replay_figures_t *fig, const replay_report_conf_t *rc)
{
    unsigned                  t, j;
    const replay_op_t        *op;
    const replay_point_t     *best;
    replay_figures_t         *f = (replay_figures_t *) fig;

    best = &fig->model[fig->best];

    for (t = 0; t < REPLAY_TARGETS; t++) {
        f->target_op[t] = -1;

        if (rc->seeds < REPLAY_TARGET_SEEDS) {
            continue;
        }

        for (j = 0; j < rc->n_ops; j++) {
            op = &rc->ops[j];

            if (op->accuracy >= replay_target[t].accuracy * best->accuracy
                && op->cost <= replay_target[t].cost * best->cost
                && (f->target_op[t] < 0
                    || op->accuracy > rc->ops[f->target_op[t]].accuracy))
            {
                f->target_op[t] = (int) j;
            }
        }
    }
}


static void
replay_print(const replay_data_t *data, const replay_policy_t *rp,
    const replay_figures_t *fig, const replay_report_conf_t *rc)
{
    char                    name[64];
    double                  ba, bc;
    unsigned                i, j, m, t, stuck;
    const replay_op_t      *op;
    const llmopt_policy_t  *pol;

    ba = fig->model[fig->best].accuracy;
    bc = fig->model[fig->best].cost;
    pol = rp->pol;

    printf("replay: %u rows (%u with a missing value skipped), %u models, "
           "from", data->n_rows, data->skipped, data->n_models);

    for (i = 0; i < data->n_files; i++) {
        printf(" %s (%u)", data->files[i], data->file_rows[i]);
    }

    printf("\n\nbaselines over the same rows (%% of always-%s; a model's "
           "cost over these rows is exact, its accuracy +- its binomial "
           "standard error):\n", data->models[fig->best]);
    printf("  %-38s %8s %7s %7s %9s %7s\n", "", "accuracy", "+-se", "%acc",
           "cost $", "%cost");

    for (m = 0; m < data->n_models; m++) {
        printf("  %-38.38s %8.4f %7.4f %6.1f%% %9.3f %6.1f%%%s\n",
               data->models[m], fig->model[m].accuracy, fig->se_model[m],
               100 * fig->model[m].accuracy / ba, fig->model[m].cost,
               100 * fig->model[m].cost / bc,
               fig->on_hull[m] ? "  hull" : "");
    }

    printf("  %-38s %8.4f %7s %6.1f%% %9.3f %6.1f%%\n",
           "oracle per prompt (cheapest correct)", fig->oracle.accuracy,
           "exact", 100 * fig->oracle.accuracy / ba, fig->oracle.cost,
           100 * fig->oracle.cost / bc);
    printf("  best model: %s, %.4f accuracy for %.3f $\n",
           data->models[fig->best], ba, bc);

    printf("  hull of two-model mixes:");

    for (i = 0; i < fig->n_hull; i++) {
        printf(" (%.3f $, %.4f)", fig->hull[i].cost, fig->hull[i].accuracy);
    }

    if (pol->sparse_on) {
        printf("\n\nrouter: policy \"%.*s\", sparse, bits %u, ngrams %u, "
               "learning rate %g, exploration %g", (int) pol->name.len,
               pol->name.data, pol->sparse.bits, pol->sparse.ngrams,
               pol->sparse.learning_rate, pol->sparse.exploration);

    } else {
        printf("\n\nrouter: policy \"%.*s\", %s, alpha %g",
               (int) pol->name.len, pol->name.data,
               llmopt_algorithm_name(pol->bandit.algorithm),
               pol->bandit.alpha);

        if (llmopt_bandit_linear_model(&pol->bandit)) {
            printf(", lambda %g, prior mean %g", pol->bandit.lambda,
                   pol->bandit.prior_mean);
        }

        if (pol->bandit.algorithm == LLMOPT_ALG_EPSILON_GREEDY) {
            printf(", epsilon %g", pol->bandit.epsilon);
        }

        if (pol->bandit.exploration_floor > 0) {
            printf(", exploration floor %g", pol->bandit.exploration_floor);
        }

        printf(", exploration decay %g", pol->bandit.exploration_decay);
    }

    printf("; features [");

    for (i = 0; i < pol->features.n; i++) {
        printf("%s%s", i ? ", " : "",
               llmopt_feature_name(pol->features.ids[i]));
    }

    printf("], d = %u\n", pol->features.d);
    printf("  reward r = (1 - w) q + w C, q = correctness, C = ref / (ref + "
           "cost), ref = %g $; one online pass from a cold start per seed "
           "(1..%u), shuffled\n", pol->reward.cost_ref, rc->seeds);
    printf("  +-se: standard error of the mean over seeds; d/se: distance "
           "to the hull at the point's cost in standard errors; stuck: "
           "runs whose second-half regret against the best fixed arm "
           "exceeds %g\n\n", REPLAY_STUCK_REGRET);

    printf("  %5s %8s %7s %6s %9s %7s %6s %8s %6s %5s %7s %6s\n", "w",
           "accuracy", "+-se", "%acc", "cost $", "+-se", "%cost", "hull",
           "d/se", "", "regret", "stuck");

    stuck = 0;

    for (j = 0; j < rc->n_ops; j++) {
        op = &rc->ops[j];
        stuck += op->stuck;

        printf("  %5.3f %8.4f %7.4f %5.1f%% %9.3f %7.3f %5.1f%% %8.4f "
               "%6.1f %5s %7.4f %3u/%u\n", op->weight, op->accuracy,
               op->se_accuracy, 100 * op->accuracy / ba, op->cost,
               op->se_cost, 100 * op->cost / bc, op->hull,
               op->se_distance > 0 ? op->distance / op->se_distance : 0.0,
               replay_side(op), op->regret, op->stuck, rc->seeds);
    }

    printf("\nstuck runs: %u of %u\n", stuck, rc->n_ops * rc->seeds);

    for (t = 0; t < REPLAY_TARGETS; t++) {
        snprintf(name, sizeof(name), ">= %.0f%% of %s's accuracy at <= "
                 "%.0f%% of its cost", 100 * replay_target[t].accuracy,
                 "the best model", 100 * replay_target[t].cost);
        printf("target %u (%s): ", t + 1, name);

        if (rc->seeds < REPLAY_TARGET_SEEDS) {
            printf("not judged: %u seeds, a target needs the mean of %d\n",
                   rc->seeds, REPLAY_TARGET_SEEDS);
            continue;
        }

        if (fig->target_op[t] >= 0) {
            op = &rc->ops[fig->target_op[t]];
            printf("met at w = %.3f: %.1f%% +- %.1f accuracy at %.1f%% +- "
                   "%.1f cost\n", op->weight, 100 * op->accuracy / ba,
                   100 * op->se_accuracy / ba, 100 * op->cost / bc,
                   100 * op->se_cost / bc);
            continue;
        }

        op = NULL;

        for (j = 0; j < rc->n_ops; j++) {
            if (rc->ops[j].cost <= replay_target[t].cost * bc
                && (op == NULL || rc->ops[j].accuracy > op->accuracy))
            {
                op = &rc->ops[j];
            }
        }

        if (op == NULL) {
            printf("NOT met; no point within the cost bound\n");
            continue;
        }

        printf("NOT met; the best within the cost bound: w = %.3f, %.1f%% "
               "+- %.1f accuracy at %.1f%% +- %.1f cost\n", op->weight,
               100 * op->accuracy / ba, 100 * op->se_accuracy / ba,
               100 * op->cost / bc, 100 * op->se_cost / bc);
    }

    printf("\n%u runs (%u weights x %u seeds) of %u decisions in %.1f s\n",
           rc->n_ops * rc->seeds, rc->n_ops, rc->seeds, data->n_rows,
           rc->elapsed);
}


static int
replay_json(const replay_data_t *data, const replay_policy_t *rp,
    const replay_figures_t *fig, const replay_report_conf_t *rc)
{
    FILE               *f;
    unsigned            i, j, m;
    const replay_op_t  *op;

    f = fopen(rc->json, "w");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", rc->json, strerror(errno));
        return -1;
    }

    fprintf(f, "{\"rows\":%u,\"skipped\":%u,\"files\":[", data->n_rows,
            data->skipped);

    for (i = 0; i < data->n_files; i++) {
        fprintf(f, "%s{\"file\":", i ? "," : "");
        replay_json_string(f, data->files[i]);
        fprintf(f, ",\"rows\":%u}", data->file_rows[i]);
    }

    fprintf(f, "],\n\"policy\":");
    replay_json_string(f, rp->pol->name.data);
    fprintf(f, ",\"algorithm\":\"%s\",\"seeds\":%u,\"stuck_regret\":%g,\n"
            "\"best\":{\"model\":",
            rp->pol->sparse_on
            ? "sparse" : llmopt_algorithm_name(rp->pol->bandit.algorithm),
            rc->seeds,
            REPLAY_STUCK_REGRET);
    replay_json_string(f, data->models[fig->best]);
    fprintf(f, ",\"accuracy\":%.6f,\"cost\":%.6f},\n\"oracle\":{"
            "\"accuracy\":%.6f,\"cost\":%.6f},\n\"models\":[",
            fig->model[fig->best].accuracy, fig->model[fig->best].cost,
            fig->oracle.accuracy, fig->oracle.cost);

    for (m = 0; m < data->n_models; m++) {
        fprintf(f, "%s\n {\"model\":", m ? "," : "");
        replay_json_string(f, data->models[m]);
        fprintf(f, ",\"accuracy\":%.6f,\"se_accuracy\":%.6f,\"cost\":%.6f,"
                "\"hull\":%s}", fig->model[m].accuracy, fig->se_model[m],
                fig->model[m].cost, fig->on_hull[m] ? "true" : "false");
    }

    fprintf(f, "],\n\"hull\":[");

    for (i = 0; i < fig->n_hull; i++) {
        fprintf(f, "%s{\"cost\":%.6f,\"accuracy\":%.6f}", i ? "," : "",
                fig->hull[i].cost, fig->hull[i].accuracy);
    }

    fprintf(f, "],\n\"weights\":[");

    for (j = 0; j < rc->n_ops; j++) {
        op = &rc->ops[j];
        fprintf(f, "%s\n {\"w\":%g,\"accuracy\":%.6f,\"se_accuracy\":%.6f,"
                "\"cost\":%.6f,\"se_cost\":%.6f,\"hull\":%.6f,"
                "\"distance\":%.6f,\"se_distance\":%.6f,\"distance_se\":%.3f,"
                "\"side\":\"%s\",\"regret\":%.6f,\"stuck\":%u}",
                j ? "," : "", op->weight, op->accuracy, op->se_accuracy,
                op->cost, op->se_cost, op->hull, op->distance,
                op->se_distance,
                op->se_distance > 0 ? op->distance / op->se_distance : 0.0,
                replay_side(op), op->regret, op->stuck);
    }

    fprintf(f, "],\n\"targets\":[");

    for (i = 0; i < REPLAY_TARGETS; i++) {
        fprintf(f, "%s{\"accuracy\":%g,\"cost\":%g,\"judged\":%s,\"met\":%s",
                i ? "," : "", replay_target[i].accuracy,
                replay_target[i].cost,
                rc->seeds >= REPLAY_TARGET_SEEDS ? "true" : "false",
                fig->target_op[i] >= 0 ? "true" : "false");

        if (fig->target_op[i] >= 0) {
            fprintf(f, ",\"w\":%g", rc->ops[fig->target_op[i]].weight);
        }

        fprintf(f, "}");
    }

    fprintf(f, "]}\n");

    if (fclose(f) != 0) {
        fprintf(stderr, "replay: %s: %s\n", rc->json, strerror(errno));
        return -1;
    }

    return 0;
}


static void
replay_json_string(FILE *f, const char *s)
{
    size_t          n;
    unsigned char  *out;

    n = strlen(s);
    out = malloc(6 * n + 2);

    if (out == NULL) {
        fprintf(f, "\"\"");
        return;
    }

    n = llmopt_json_quote(out, s, n);
    fwrite(out, 1, n, f);
    free(out);
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
    replay_point_t  sorted[REPLAY_MAX_MODELS];

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

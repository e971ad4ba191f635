/*
 * Copyright (C) llmopt authors
 *
 * replay --cascade: one online pass of the cascade core
 * (src/llmopt_cascade.h) over the rows, each tier's answer the data set's
 * "<model>|model_response" text, no log-probabilities, the cost the sum
 * of the tiers tried (a pair's two answers both).  docs/CASCADE.md.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_core.h"
#include "llmopt_cascade.h"
#include "llmopt_usage_types.h"
#include "replay.h"


/* every row's answers, in model order, and the format its prompt asks */

typedef struct {
    char                  **text;       /* [n_rows * n_models] */
    size_t                 *len;
    unsigned char          *format;     /* [n_rows] */
    unsigned                cap;
} replay_cascade_answers_t;


static int replay_cascade_grow(replay_cascade_answers_t *ans, unsigned n,
    unsigned n_models);
static void replay_cascade_answer(const replay_cascade_t *cc,
    const replay_data_t *data, unsigned r, unsigned t,
    llmopt_cascade_answer_t *a);


static replay_cascade_answers_t  replay_answers;


int
replay_cascade_tiers(replay_cascade_t *cc, const replay_data_t *data,
    const char *spec)
{
    int          m;
    char         name[256];
    size_t       n;
    const char  *p, *end;

    memset(cc, 0, sizeof(replay_cascade_t));
    p = spec;

    while (*p != '\0') {
        if (cc->n_tiers == LLMOPT_CASCADE_MAX_TIERS) {
            fprintf(stderr, "replay: --cascade has more than %d tiers\n",
                    LLMOPT_CASCADE_MAX_TIERS);
            return -1;
        }

        end = p + strcspn(p, "+,");
        n = (size_t) (end - p);

        if (n == 0 || n >= sizeof(name)) {
            fprintf(stderr, "replay: --cascade \"%s\": an empty or long "
                    "model name\n", spec);
            return -1;
        }

        memcpy(name, p, n);
        name[n] = '\0';
        m = replay_data_model(data, name);

        if (m < 0) {
            fprintf(stderr, "replay: --cascade: \"%s\" is not a model of "
                    "the data set\n", name);
            return -1;
        }

        if (cc->pair[cc->n_tiers] >= 2) {
            fprintf(stderr, "replay: --cascade: a tier is one model or a "
                    "pair\n");
            return -1;
        }

        cc->model[cc->n_tiers][cc->pair[cc->n_tiers]++] = (unsigned) m;

        if (*end == ',' || *end == '\0') {
            cc->n_tiers++;
        }

        p = *end != '\0' ? end + 1 : end;
    }

    if (cc->n_tiers < 2) {
        fprintf(stderr, "replay: --cascade needs two tiers or more\n");
        return -1;
    }

    llmopt_cascade_conf_default(&cc->conf);
    cc->conf.max_tiers = cc->n_tiers;

    return llmopt_cascade_extractor_init(&cc->ex, NULL, NULL);
}


int
replay_cascade_keep(void *ctx, const replay_data_t *data,
    const replay_row_t *row, char **fields, const unsigned *r_col)
{
    char                      *prompt, *w;
    size_t                     i, len;
    unsigned                   m, r;
    replay_cascade_answers_t  *ans;

    ans = &replay_answers;
    r = data->n_rows;

    if (replay_cascade_grow(ans, r + 1, data->n_models) != 0) {
        return -1;
    }

    for (m = 0; m < data->n_models; m++) {
        if (r_col[m] == (unsigned) -1) {
            fprintf(stderr, "replay: --cascade: no column \"%s|"
                    "model_response\"\n", data->models[m]);
            return -1;
        }

        ans->text[r * data->n_models + m] = replay_text(fields[r_col[m]],
                                                        &len);
        ans->len[r * data->n_models + m] = len;

        if (ans->text[r * data->n_models + m] == NULL) {
            return -1;
        }
    }

    /* the format asked, from the request's text: its "\n" new lines */

    prompt = malloc(row->len + 1);
    if (prompt == NULL) {
        return -1;
    }

    for (i = 0, w = prompt; i < row->len; i++) {
        if (row->body[i] == '\\' && i + 1 < row->len
            && row->body[i + 1] == 'n')
        {
            *w++ = '\n';
            i++;

        } else {
            *w++ = row->body[i];
        }
    }

    ans->format[r] = (unsigned char)
        llmopt_cascade_format_asked(prompt, (size_t) (w - prompt));
    free(prompt);

    return 0;
}


static int
replay_cascade_grow(replay_cascade_answers_t *ans, unsigned n,
    unsigned n_models)
{
    void      *t, *l, *f;
    unsigned   cap;

    if (n <= ans->cap) {
        return 0;
    }

    cap = ans->cap ? 2 * ans->cap : 1024;
    t = realloc(ans->text, (size_t) cap * n_models * sizeof(char *));
    if (t != NULL) {
        ans->text = t;
    }

    l = realloc(ans->len, (size_t) cap * n_models * sizeof(size_t));
    if (l != NULL) {
        ans->len = l;
    }

    f = realloc(ans->format, cap);
    if (f != NULL) {
        ans->format = f;
    }

    if (t == NULL || l == NULL || f == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }

    ans->cap = cap;

    return 0;
}


static void
replay_cascade_answer(const replay_cascade_t *cc, const replay_data_t *data,
    unsigned r, unsigned t, llmopt_cascade_answer_t *a)
{
    unsigned  k;

    memset(a, 0, sizeof(llmopt_cascade_answer_t));
    k = r * data->n_models + cc->model[t][0];
    a->text = replay_answers.text[k];
    a->len = replay_answers.len[k];
    a->finish = LLMOPT_FINISH_STOP;
    a->format = replay_answers.format[r];

    if (cc->pair[t] == 2) {
        k = r * data->n_models + cc->model[t][1];
        a->other = replay_answers.text[k];
        a->other_len = replay_answers.len[k];
    }
}


/*
 * Each tier's expected quality and cost are the means of what it has
 * answered so far (quality 1 and cost 0 before its first answer, an
 * optimistic start); an escalated answer is labelled by its agreement
 * with the next tier's, an accepted one by its correctness (the data
 * set's feedback).
 */

void
replay_cascade_run(const replay_cascade_t *cc, const replay_data_t *data,
    const llmopt_reward_conf_t *rconf, uint64_t seed, replay_result_t *res)
{
    double                       x[LLMOPT_CASCADE_MAX_TIERS]
                                  [LLMOPT_CASCADE_DIM],
                                 q_sum[LLMOPT_CASCADE_MAX_TIERS],
                                 c_sum[LLMOPT_CASCADE_MAX_TIERS],
                                 n_seen[LLMOPT_CASCADE_MAX_TIERS],
                                 correct, spent, cost;
    unsigned                    *order, i, r, t, j, k;
    llmopt_rng_t                 rng;
    llmopt_cascade_model_t       model[LLMOPT_CASCADE_MAX_TIERS];
    llmopt_cascade_tier_t        tiers[LLMOPT_CASCADE_MAX_TIERS];
    llmopt_cascade_input_t       in;
    llmopt_cascade_answer_t      a[LLMOPT_CASCADE_MAX_TIERS];
    llmopt_cascade_decision_t    d;

    order = malloc(data->n_rows * sizeof(unsigned));
    if (order == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        exit(1);
    }

    replay_shuffle(order, data->n_rows, seed);
    llmopt_rng_seed(&rng, seed);
    memset(model, 0, sizeof(model));
    memset(q_sum, 0, sizeof(q_sum));
    memset(c_sum, 0, sizeof(c_sum));
    memset(n_seen, 0, sizeof(n_seen));
    correct = 0;
    spent = 0;

    for (i = 0; i < data->n_rows; i++) {
        r = order[i];
        memset(a, 0, sizeof(a));
        memset(&in, 0, sizeof(in));
        in.n_tiers = cc->n_tiers;
        in.tiers = tiers;

        for (t = 0; t < cc->n_tiers; t++) {
            tiers[t].quality = n_seen[t] ? q_sum[t] / n_seen[t] : 1;
            tiers[t].cost = n_seen[t] ? c_sum[t] / n_seen[t] : 0;
            tiers[t].latency_ms = 0;
            tiers[t].skip = 0;
        }

        for (t = 0; ; t = d.next) {
            replay_cascade_answer(cc, data, r, t, &a[t]);
            llmopt_cascade_signals(&cc->ex, &a[t], x[t]);

            cost = 0;

            for (k = 0; k < cc->pair[t]; k++) {
                cost += data->rows[r].cost[cc->model[t][k]];
            }

            q_sum[t] += data->rows[r].quality[cc->model[t][0]];
            c_sum[t] += cost;
            n_seen[t]++;
            in.spent += cost;
            in.tried++;
            in.tier = t;

            /* the tier before labelled by this answer */

            for (j = 0; j < t; j++) {
                if (a[j].text != NULL) {
                    llmopt_cascade_learn(&model[j], &cc->conf, x[j],
                        llmopt_cascade_agree(&cc->ex, a[j].text, a[j].len,
                                             a[t].text, a[t].len),
                        1);
                    a[j].text = NULL;
                }
            }

            llmopt_cascade_decide(&model[t], &cc->conf, rconf, &in, x[t],
                                  &rng, &d);

            if (!d.escalate) {
                break;
            }
        }

        /* the accepted answer's feedback: its correctness */

        k = cc->model[t][0];
        correct += data->rows[r].quality[k];
        llmopt_cascade_learn(&model[t], &cc->conf, x[t],
                             data->rows[r].quality[k], 1);
        spent += in.spent;
    }

    res->accuracy = correct / data->n_rows;
    res->cost = spent;
    res->regret = 0;
    res->stuck = 0;
    free(order);
}

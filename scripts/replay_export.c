/*
 * Copyright (C) llmopt authors
 *
 * replay --export and --measured, for the end-to-end replay through nginx
 * (scripts/replay-e2e): the rows, models and each seed's order written
 * out; the points it measured read back and set beside the in-process
 * ones.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_core.h"
#include "llmopt_json.h"
#include "replay.h"


typedef struct {
    double                 weight;
    unsigned               seed;
    double                 accuracy;
    double                 cost;
} replay_measured_t;


static void replay_export_string(const char *s, size_t n);


static FILE               *replay_export_rows;
static replay_measured_t   replay_meas[REPLAY_MAX_WEIGHTS * REPLAY_MAX_SEEDS];
static unsigned            replay_n_meas;


int
replay_export_open(const char *dir)
{
    char  path[1024];

    snprintf(path, sizeof(path), "%s/rows.jsonl", dir);
    replay_export_rows = fopen(path, "w");

    if (replay_export_rows == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }

    return 0;
}


/*
 * One JSON line per kept row (rows.jsonl, row index = line number from
 * 0): {"task":<its file>,"body":<the request body, a string>,
 * "correct":[..],"cost":[..],"answer":[..]} in model order.
 */

int
replay_export_row(void *ctx, const replay_data_t *data,
    const replay_row_t *row, char **fields, const unsigned *r_col)
{
    unsigned     m;
    const char  *a, *task;

    task = strrchr(data->files[row->file], '/');
    task = task != NULL ? task + 1 : data->files[row->file];

    fprintf(replay_export_rows, "{\"task\":");
    replay_export_string(task, strlen(task));
    fprintf(replay_export_rows, ",\"body\":");
    replay_export_string(row->body, row->len);
    fprintf(replay_export_rows, ",\"correct\":[");

    for (m = 0; m < data->n_models; m++) {
        fprintf(replay_export_rows, "%s%g", m ? "," : "", row->quality[m]);
    }

    fprintf(replay_export_rows, "],\"cost\":[");

    for (m = 0; m < data->n_models; m++) {
        fprintf(replay_export_rows, "%s%.12g", m ? "," : "", row->cost[m]);
    }

    fprintf(replay_export_rows, "],\"answer\":[");

    for (m = 0; m < data->n_models; m++) {
        a = r_col[m] != (unsigned) -1 ? fields[r_col[m]] : "";

        fprintf(replay_export_rows, "%s", m ? "," : "");
        replay_export_string(a, strlen(a));
    }

    fprintf(replay_export_rows, "]}\n");

    return ferror(replay_export_rows) ? -1 : 0;
}


static void
replay_export_string(const char *s, size_t n)
{
    unsigned char  *out;

    out = malloc(6 * n + 2);

    if (out == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        exit(1);
    }

    fwrite(out, 1, llmopt_json_quote(out, s, n), replay_export_rows);
    free(out);
}


/* models.txt, one a line; order-<seed>.txt, each seed's row order */

int
replay_export_close(const char *dir, const replay_data_t *data,
    unsigned seeds)
{
    char       path[1024];
    FILE      *f;
    unsigned   i, s, *order;

    if (fclose(replay_export_rows) != 0) {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/models.txt", dir);
    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }

    for (i = 0; i < data->n_models; i++) {
        fprintf(f, "%s\n", data->models[i]);
    }

    fclose(f);

    order = malloc(data->n_rows * sizeof(unsigned));
    if (order == NULL) {
        return -1;
    }

    for (s = 1; s <= seeds; s++) {
        replay_shuffle(order, data->n_rows, s);

        snprintf(path, sizeof(path), "%s/order-%u.txt", dir, s);
        f = fopen(path, "w");
        if (f == NULL) {
            fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
            free(order);
            return -1;
        }

        for (i = 0; i < data->n_rows; i++) {
            fprintf(f, "%u\n", order[i]);
        }

        fclose(f);
    }

    free(order);

    printf("replay: exported %u rows, %u models and %u orders to %s\n",
           data->n_rows, data->n_models, seeds, dir);

    return 0;
}


int
replay_measured_read(const char *path)
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

    if (replay_n_meas == 0) {
        fprintf(stderr, "replay: %s: no \"weight seed accuracy cost\" "
                "line\n", path);
        return -1;
    }

    return 0;
}


int
replay_measured_find(double weight, unsigned seed, double *accuracy,
    double *cost)
{
    unsigned  i;

    for (i = 0; i < replay_n_meas; i++) {
        if (fabs(replay_meas[i].weight - weight) < 1e-9
            && replay_meas[i].seed == seed)
        {
            *accuracy = replay_meas[i].accuracy;
            *cost = replay_meas[i].cost;
            return 0;
        }
    }

    return -1;
}

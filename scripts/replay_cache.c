/*
 * Copyright (C) llmopt authors
 *
 * replay-cache: what a cache would have done to a RouterBench stream
 * with repeats and near-repeats injected at stated rates.  Each request
 * goes to one model (--model); the exact cache is the core's key
 * (llmopt_cache_key()), the near-duplicate one (--near-cache) the core's
 * guarded similarity (llmopt_neardup.c) over the prompts seen.  Prints
 * the hit rates, the share of cost saved and the quality lost, each the
 * mean over --seeds streams with its standard error.
 *
 *   build/replay-cache --data DIR [--model M] [--requests N]
 *       [--repeat R] [--near Q] [--seeds S] [--near-cache]
 *       [--threshold T] [--entries E]
 *
 * A repeat is an earlier request of the stream, sent again byte for byte;
 * a near-repeat is one reworded the way people do ("Please " in front,
 * " Thanks." after, the first letter in lower case).  A request served
 * another prompt's answer (a false near hit) is counted as wrong; an
 * exact hit has the quality of the answer it was served (RouterBench
 * repeats some prompts in rows of other outcomes).
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_cache.h"
#include "llmopt_json.h"
#include "llmopt_neardup.h"
#include "llmopt_request.h"
#include "llmopt_rng.h"
#include "replay.h"


#define REPLAY_CACHE_TOKS  8192


typedef struct {
    unsigned              row;         /* the task it asks */
    char                  key[LLMOPT_CACHE_KEY_LEN + 1];
    llmopt_neardup_sig_t  sig;
} replay_cache_entry_t;


typedef struct {
    double                exact, near, saved, lost, false_near;
} replay_cache_run_t;


static int replay_cache_request(const char *body, size_t len, char *key,
    llmopt_neardup_sig_t *sig);
static char *replay_cache_reword(const char *body, size_t len, unsigned how,
    size_t *out_len);
static void replay_cache_stat(const double *v, unsigned n, double *mean,
    double *se);


static llmopt_json_tok_t  replay_cache_toks[REPLAY_CACHE_TOKS];
static unsigned           replay_cache_scratch[REPLAY_CACHE_TOKS];


int
main(int argc, char **argv)
{
    int                    i, near_cache, m;
    char                  *body, key[LLMOPT_CACHE_KEY_LEN + 1];
    size_t                 len;
    double                 repeat, nearr, threshold, u, total, saved, lost;
    double                 q, *col[5];
    unsigned               n, seeds, s, r, k, e, entries, n_entries, hit;
    unsigned               served, row, *order, exact, nearh, false_near;
    const char            *data_dir, *model;
    replay_data_t          data;
    replay_cache_entry_t  *cache;
    replay_cache_run_t    *runs;
    llmopt_neardup_sig_t   sig;
    llmopt_neardup_accept_t acc;
    llmopt_rng_t           rng;
    unsigned              *stream;

    data_dir = NULL;
    model = "gpt-4-1106-preview";
    n = 2000;
    repeat = 0.2;
    nearr = 0.1;
    seeds = 10;
    near_cache = 0;
    threshold = 0.9;
    entries = 4096;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data_dir = argv[++i];
        } else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
            model = argv[++i];
        } else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc) {
            n = (unsigned) atoi(argv[++i]);
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = atof(argv[++i]);
        } else if (strcmp(argv[i], "--near") == 0 && i + 1 < argc) {
            nearr = atof(argv[++i]);
        } else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = (unsigned) atoi(argv[++i]);
        } else if (strcmp(argv[i], "--threshold") == 0 && i + 1 < argc) {
            threshold = atof(argv[++i]);
        } else if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc) {
            entries = (unsigned) atoi(argv[++i]);
        } else if (strcmp(argv[i], "--near-cache") == 0) {
            near_cache = 1;
        } else {
            fprintf(stderr, "usage: replay-cache --data DIR [--model M] "
                    "[--requests N] [--repeat R] [--near Q] [--seeds S] "
                    "[--near-cache] [--threshold T] [--entries E]\n");
            return 2;
        }
    }

    if (data_dir == NULL || n == 0 || seeds == 0 || entries == 0
        || repeat < 0 || nearr < 0 || repeat + nearr > 1)
    {
        fprintf(stderr, "replay-cache: --data is required; rates in [0, 1] "
                "summing to at most 1\n");
        return 2;
    }

    memset(&data, 0, sizeof(data));

    if (replay_data_add(&data, data_dir, NULL, NULL) != 0) {
        return 1;
    }

    m = -1;

    for (k = 0; k < data.n_models; k++) {
        if (strcmp(data.models[k], model) == 0) {
            m = (int) k;
        }
    }

    if (m < 0 || data.n_rows == 0) {
        fprintf(stderr, "replay-cache: no model \"%s\" or no rows in %s\n",
                model, data_dir);
        return 1;
    }

    cache = calloc(entries, sizeof(replay_cache_entry_t));
    runs = calloc(seeds, sizeof(replay_cache_run_t));
    order = malloc(data.n_rows * sizeof(unsigned));
    stream = malloc(n * sizeof(unsigned));

    if (cache == NULL || runs == NULL || order == NULL || stream == NULL) {
        fprintf(stderr, "replay-cache: out of memory\n");
        return 1;
    }

    llmopt_neardup_accept_init(&acc, threshold);

    for (s = 0; s < seeds; s++) {
        llmopt_rng_seed(&rng, 1000 + s);

        /* fresh prompts in a random order */
        for (k = 0; k < data.n_rows; k++) {
            order[k] = k;
        }

        for (k = data.n_rows; k > 1; k--) {
            r = llmopt_rng_below(&rng, k);
            e = order[k - 1];
            order[k - 1] = order[r];
            order[r] = e;
        }

        n_entries = 0;
        total = saved = lost = 0;
        exact = nearh = false_near = 0;
        row = 0;

        for (k = 0; k < n; k++) {
            u = llmopt_rng_uniform(&rng);

            if (k > 0 && u < repeat + nearr) {
                /* again: the same request, or reworded */
                stream[k] = stream[llmopt_rng_below(&rng, k)];
                r = stream[k] & 0xffffff;

                if (u >= repeat) {
                    stream[k] = r | ((1 + llmopt_rng_below(&rng, 3)) << 24);
                }

            } else {
                stream[k] = order[row++ % data.n_rows];
            }

            r = stream[k] & 0xffffff;

            if ((stream[k] >> 24) != 0) {
                body = replay_cache_reword(data.rows[r].body,
                                           data.rows[r].len, stream[k] >> 24,
                                           &len);
            } else {
                body = data.rows[r].body;
                len = data.rows[r].len;
            }

            if (body == NULL
                || replay_cache_request(body, len, key, &sig) != 0)
            {
                fprintf(stderr, "replay-cache: a request that does not "
                        "parse\n");
                return 1;
            }

            if (body != data.rows[r].body) {
                free(body);
            }

            q = data.rows[r].quality[m];
            total += data.rows[r].cost[m];
            hit = 0;
            served = r;

            for (e = 0; e < n_entries && !hit; e++) {
                if (strcmp(cache[e].key, key) == 0) {
                    hit = 1;
                    served = cache[e].row;
                    exact++;
                }
            }

            for (e = 0; near_cache && e < n_entries && !hit; e++) {
                if (llmopt_neardup_accept(&acc, &sig, &cache[e].sig) >= 0.5)
                {
                    hit = 2;
                    served = cache[e].row;
                    nearh++;
                    false_near += (served != r);
                }
            }

            if (hit) {
                /* an exact hit is the same prompt (a repeated row of the
                   data may hold another outcome); a near hit of another
                   row is wrong */
                saved += data.rows[r].cost[m];
                lost += hit == 1 ? q - data.rows[served].quality[m]
                                 : (served == r ? 0 : q);

            } else {
                /* stored; the oldest goes when the cache is full */
                e = n_entries < entries ? n_entries++ : k % entries;
                cache[e].row = r;
                memcpy(cache[e].key, key, sizeof(key));
                cache[e].sig = sig;
            }
        }

        runs[s].exact = (double) exact / n;
        runs[s].near = (double) nearh / n;
        runs[s].saved = total > 0 ? saved / total : 0;
        runs[s].lost = lost / n;
        runs[s].false_near = nearh ? (double) false_near / nearh : 0;
    }

    for (k = 0; k < 5; k++) {
        col[k] = malloc(seeds * sizeof(double));
    }

    for (s = 0; s < seeds; s++) {
        col[0][s] = runs[s].exact;
        col[1][s] = runs[s].near;
        col[2][s] = runs[s].saved;
        col[3][s] = runs[s].lost;
        col[4][s] = runs[s].false_near;
    }

    printf("replay-cache: %u requests x %u seeds from %u rows of %s, model "
           "%s; repeats %.0f %%, near-repeats %.0f %%; exact cache%s "
           "(%u entries)\n", n, seeds, data.n_rows, data_dir, model,
           100 * repeat, 100 * nearr,
           near_cache ? " + near-duplicate (similarity >= threshold, "
                        "guarded)" : "", entries);

    {
        double       mean, se;
        const char  *names[5] = {
            "exact hit rate", "near hit rate", "cost saved",
            "quality lost", "false near hits"
        };
        const char  *units[5] = {
            "of requests", "of requests", "of the cost",
            "accuracy points", "of near hits"
        };

        for (k = 0; k < 5; k++) {
            if (!near_cache && (k == 1 || k == 4)) {
                continue;
            }

            replay_cache_stat(col[k], seeds, &mean, &se);
            printf("  %-16s %8.3f %% +- %.3f  %s\n", names[k], 100 * mean,
                   100 * se, units[k]);
        }
    }

    if (near_cache) {
        printf("  threshold %.2f\n", threshold);
    }

    return 0;
}


/* The key of a request body and the signature of its prompt. */

static int
replay_cache_request(const char *body, size_t len, char *key,
    llmopt_neardup_sig_t *sig)
{
    size_t                n;
    unsigned              count;
    llmopt_err_t          err;
    llmopt_request_t      req;
    llmopt_cache_conf_t   conf;
    llmopt_cache_scope_t  scope;
    char                  text[65536];

    if (llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                             (const unsigned char *) body, len,
                             replay_cache_toks, REPLAY_CACHE_TOKS, 0, &err)
        != LLMOPT_OK)
    {
        return -1;
    }

    count = req.ntoks;

    llmopt_cache_conf_defaults(&conf);
    conf.when = LLMOPT_CACHE_ALWAYS;

    memset(&scope, 0, sizeof(scope));
    scope.upstream.data = "replay";
    scope.upstream.len = 6;
    scope.tenant.data = "";

    if (llmopt_cache_key(&conf, &scope, (const unsigned char *) body,
                         replay_cache_toks, count, replay_cache_scratch, key)
        != LLMOPT_OK)
    {
        return -1;
    }

    /* the prompt's raw JSON string; its escapes do not matter here */
    n = req.prompt.end - req.prompt.start;
    n = n < sizeof(text) ? n : sizeof(text);
    memcpy(text, body + req.prompt.start, n);

    llmopt_neardup_sign(text, n, sig);

    return 0;
}


/*
 * The body with its prompt reworded: 1 "Please " in front, 2 " Thanks."
 * after, 3 its first letter in lower case.  malloc()ed.
 */

static char *
replay_cache_reword(const char *body, size_t len, unsigned how,
    size_t *out_len)
{
    char              *out;
    size_t             at;
    llmopt_err_t       err;
    llmopt_request_t   req;

    if (llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                             (const unsigned char *) body, len,
                             replay_cache_toks, REPLAY_CACHE_TOKS, 0, &err)
        != LLMOPT_OK
        || req.prompt.end == req.prompt.start)
    {
        return NULL;
    }

    out = malloc(len + 16);
    if (out == NULL) {
        return NULL;
    }

    memcpy(out, body, len);
    *out_len = len;

    if (how == 3) {
        at = req.prompt.start;
        if (out[at] >= 'A' && out[at] <= 'Z') {
            out[at] = (char) (out[at] + 32);
        }

        return out;
    }

    at = how == 1 ? req.prompt.start : req.prompt.end;

    memcpy(out, body, at);
    memcpy(out + at, how == 1 ? "Please " : " Thanks.", how == 1 ? 7 : 8);
    memcpy(out + at + (how == 1 ? 7 : 8), body + at, len - at);
    *out_len = len + (how == 1 ? 7 : 8);

    return out;
}


static void
replay_cache_stat(const double *v, unsigned n, double *mean, double *se)
{
    unsigned  i;
    double    s, ss;

    s = 0;

    for (i = 0; i < n; i++) {
        s += v[i];
    }

    *mean = s / n;
    ss = 0;

    for (i = 0; i < n; i++) {
        ss += (v[i] - *mean) * (v[i] - *mean);
    }

    *se = n > 1 ? sqrt(ss / (n - 1) / n) : 0;
}

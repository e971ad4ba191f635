/*
 * Copyright (C) llmopt authors
 *
 * The body rewriter: a parsed request's root members set to an arm's
 * model and params, every other byte of the body copied as it was.
 */


#include <string.h>

#include "llmopt_rewrite.h"


static size_t llmopt_request_edit(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n, unsigned char *out);


size_t
llmopt_request_rewrite_size(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n)
{
    return llmopt_request_edit(req, set, n, NULL);
}


size_t
llmopt_request_rewrite(const llmopt_request_t *req, const llmopt_kv_t *set,
    unsigned n, unsigned char *out)
{
    return llmopt_request_edit(req, set, n, out);
}


/*
 * The one walk behind both rewrite functions: with out NULL it only
 * counts.  A set entry whose key repeats an earlier entry's is ignored.
 */

static size_t
llmopt_request_edit(const llmopt_request_t *req, const llmopt_kv_t *set,
    unsigned n, unsigned char *out)
{
    int                       first;
    size_t                    size, copied, start, end, close;
    unsigned                  i, j, k, seen, skip;
    const llmopt_kv_t        *kv;
    const unsigned char      *body;
    const llmopt_json_tok_t  *toks;

    if (n > LLMOPT_REQUEST_MAX_SET) {
        n = LLMOPT_REQUEST_MAX_SET;
    }

    body = req->body;
    toks = req->toks;

    /* entries repeating an earlier key */

    skip = 0;

    for (j = 1; j < n; j++) {
        for (k = 0; k < j; k++) {
            if (set[k].key.len == set[j].key.len
                && memcmp(set[k].key.data, set[j].key.data, set[j].key.len)
                   == 0)
            {
                skip |= 1u << j;
                break;
            }
        }
    }

    seen = 0;
    size = 0;
    copied = 0;
    i = 1;

    for (k = 0; k < (unsigned) toks[0].size; k++) {

        for (j = 0; j < n; j++) {
            if ((skip & (1u << j)) == 0
                && llmopt_json_str_eq(body, &toks[i], set[j].key.data,
                                      set[j].key.len))
            {
                break;
            }
        }

        if (j < n) {
            seen |= 1u << j;
            kv = &set[j];

            llmopt_json_value_span(&toks[i + 1], &start, &end);

            if (out != NULL) {
                memcpy(out + size, body + copied, start - copied);
                memcpy(out + size + start - copied, kv->json.data,
                       kv->json.len);
            }

            size += start - copied + kv->json.len;
            copied = end;
        }

        i = llmopt_json_skip(toks, req->ntoks, i + 1);
    }

    /* missing members go right before the root's closing brace */

    close = (size_t) toks[0].end - 1;

    if (out != NULL) {
        memcpy(out + size, body + copied, close - copied);
    }

    size += close - copied;
    first = (toks[0].size == 0);

    for (j = 0; j < n; j++) {
        if ((seen | skip) & (1u << j)) {
            continue;
        }

        kv = &set[j];

        if (!first) {
            if (out != NULL) {
                out[size] = ',';
            }

            size++;
        }

        /* escaped whatever the key: a catalog's key cannot break out */

        size += llmopt_json_quote(out != NULL ? out + size : NULL,
                                  kv->key.data, kv->key.len);

        if (out != NULL) {
            out[size] = ':';
            memcpy(out + size + 1, kv->json.data, kv->json.len);
        }

        size += 1 + kv->json.len;
        first = 0;
    }

    if (out != NULL) {
        memcpy(out + size, body + close, req->len - close);
    }

    size += req->len - close;

    return size;
}

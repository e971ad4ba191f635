/*
 * Copyright (C) llmopt authors
 *
 * Fuzzes the request path of the core: the JSON tokenizer and request
 * parser (both dialects, by the first byte), the feature extractor and the
 * body rewrite.  A rewritten body must parse again, with the new model.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_request.h"
#include "llmopt_rewrite.h"
#include "llmopt_features.h"


#define TOKS  4096

static llmopt_json_tok_t  toks[TOKS], toks2[TOKS];


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rc;
    size_t                 need, out_len;
    unsigned char         *out;
    llmopt_err_t           err;
    llmopt_kv_t            set[3];
    llmopt_span_t          span;
    llmopt_dialect_e       dialect;
    llmopt_request_t       req, req2;
    llmopt_feature_ctx_t   fctx;
    llmopt_feature_spec_t  spec;
    double                 x[LLMOPT_FEATURE_MAX_DIM];
    unsigned               i;

    if (size == 0) {
        return 0;
    }

    dialect = (data[0] & 1) ? LLMOPT_DIALECT_ANTHROPIC : LLMOPT_DIALECT_OPENAI;
    data++;
    size--;

    memset(&err, 0, sizeof(err));

    rc = llmopt_request_parse(&req, dialect, data, size, toks, TOKS, 64, &err);

    if (rc != LLMOPT_OK) {
        if (rc == LLMOPT_ERROR && (err.status < 400 || err.msg[0] == '\0')) {
            abort();                    /* an error must say what */
        }
        return 0;
    }

    /* every feature */

    memset(&spec, 0, sizeof(spec));
    for (i = 0; i < LLMOPT_FEAT_LAST; i++) {
        spec.ids[spec.n++] = (llmopt_feature_e) i;
    }
    spec.tenant_buckets = 4;
    spec.word_buckets = 8;

    if (llmopt_feature_spec_finish(&spec, &err) != LLMOPT_OK) {
        abort();
    }

    llmopt_feature_hour(&fctx, 13.5);
    fctx.tenant = "tenant";
    fctx.tenant_len = 6;

    llmopt_features_build(&spec, &req, &fctx, x);

    for (i = 0; i < spec.d; i++) {
        if (x[i] != x[i]) {
            abort();                    /* NaN */
        }
    }

    /* the rewrite, then the rewritten body parses with the new model */

    set[0].key.data = "model";
    set[0].key.len = 5;
    set[0].json.data = "\"fuzz-model\"";
    set[0].json.len = 12;
    set[1].key.data = "temperature";
    set[1].key.len = 11;
    set[1].json.data = "0.5";
    set[1].json.len = 3;
    set[2].key.data = "stream_options";
    set[2].key.len = 14;
    set[2].json.data = "{\"include_usage\":true}";
    set[2].json.len = 22;

    need = llmopt_request_rewrite_size(&req, set, 3);
    out = malloc(need + 1);
    if (out == NULL) {
        return 0;
    }

    out_len = llmopt_request_rewrite(&req, set, 3, out);

    if (out_len != need) {
        abort();
    }

    rc = llmopt_request_parse(&req2, dialect, out, out_len, toks2, TOKS, 65,
                              &err);

    if (rc == LLMOPT_ERROR) {
        abort();                        /* the rewrite broke the JSON */
    }

    if (rc == LLMOPT_OK
        && (llmopt_request_member(&req2, "model", 5, &span) != LLMOPT_OK
            || span.end - span.start != 12
            || memcmp(out + span.start, "\"fuzz-model\"", 12) != 0))
    {
        abort();
    }

    free(out);

    return 0;
}

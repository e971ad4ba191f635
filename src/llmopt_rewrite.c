/*
 * Copyright (C) llmopt authors
 *
 * The body rewriter: a parsed request's root members set to an arm's
 * model and params, every other byte of the body copied as it was.
 */


#include <string.h>

#include "llmopt_rewrite.h"


#define LLMOPT_REWRITE_PIECES   4
#define LLMOPT_REWRITE_SPLICES  (LLMOPT_REQUEST_MAX_SET + 8)
#define LLMOPT_REWRITE_SET      (LLMOPT_REQUEST_MAX_SET + 2)


/* body[at, end) becomes the pieces, in order; at == end: an insertion */

typedef struct {
    size_t                    at;
    size_t                    end;
    unsigned                  n;
    llmopt_str_t              piece[LLMOPT_REWRITE_PIECES];
} llmopt_rewrite_splice_t;


typedef struct {
    llmopt_rewrite_splice_t   splice[LLMOPT_REWRITE_SPLICES];
    unsigned                  n;
} llmopt_rewrite_plan_t;


static size_t llmopt_request_edit(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n, const llmopt_variant_t *variant,
    unsigned char *out);
static void llmopt_rewrite_variant_plan(const llmopt_request_t *req,
    const llmopt_variant_t *v, llmopt_rewrite_plan_t *plan,
    llmopt_kv_t *root, unsigned *n_root);
static void llmopt_rewrite_system(const llmopt_request_t *req,
    const llmopt_variant_t *v, unsigned c, llmopt_rewrite_plan_t *plan);
static void llmopt_rewrite_append(const llmopt_request_t *req,
    const llmopt_variant_t *v, unsigned c, llmopt_rewrite_plan_t *plan);
static llmopt_rewrite_splice_t *llmopt_rewrite_add(
    llmopt_rewrite_plan_t *plan, size_t at, size_t end);
static void llmopt_rewrite_piece(llmopt_rewrite_splice_t *sp,
    const char *data, size_t len);


static const char  llmopt_rewrite_blank[] = "\\n\\n";  /* \n\n, escaped */


size_t
llmopt_request_rewrite_size(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n)
{
    return llmopt_request_edit(req, set, n, NULL, NULL);
}


size_t
llmopt_request_rewrite(const llmopt_request_t *req, const llmopt_kv_t *set,
    unsigned n, unsigned char *out)
{
    return llmopt_request_edit(req, set, n, NULL, out);
}


size_t
llmopt_request_rewrite_variant_size(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n, const llmopt_variant_t *variant)
{
    return llmopt_request_edit(req, set, n, variant, NULL);
}


size_t
llmopt_request_rewrite_variant(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n, const llmopt_variant_t *variant,
    unsigned char *out)
{
    return llmopt_request_edit(req, set, n, variant, out);
}


/*
 * The one walk behind the rewrite functions: with out NULL it only
 * counts.  A set entry whose key repeats an earlier entry's is ignored.
 * The root members' new values and the variant's edits are splices of
 * the body, made in the order of their offsets.
 */

static size_t
llmopt_request_edit(const llmopt_request_t *req, const llmopt_kv_t *set,
    unsigned n, const llmopt_variant_t *variant, unsigned char *out)
{
    int                       first;
    size_t                    size, copied, start, end, close;
    unsigned                  i, j, k, p, seen, skip, n_root;
    const llmopt_kv_t        *kv;
    const unsigned char      *body;
    const llmopt_json_tok_t  *toks;
    llmopt_rewrite_splice_t  *sp, tmp;
    llmopt_rewrite_plan_t     plan;
    llmopt_kv_t               all[LLMOPT_REWRITE_SET];

    if (n > LLMOPT_REQUEST_MAX_SET) {
        n = LLMOPT_REQUEST_MAX_SET;
    }

    body = req->body;
    toks = req->toks;
    plan.n = 0;

    if (variant != NULL) {
        memcpy(all, set, n * sizeof(llmopt_kv_t));
        n_root = 0;
        llmopt_rewrite_variant_plan(req, variant, &plan, all + n, &n_root);
        set = all;
        n += n_root;
    }

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

    /* the root members set: their values replaced */

    seen = 0;
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
            llmopt_json_value_span(&toks[i + 1], &start, &end);

            sp = llmopt_rewrite_add(&plan, start, end);
            if (sp != NULL) {
                llmopt_rewrite_piece(sp, set[j].json.data, set[j].json.len);
            }
        }

        i = llmopt_json_skip(toks, req->ntoks, i + 1);
    }

    /* in body order; equal offsets keep the order they were planned in */

    for (j = 1; j < plan.n; j++) {
        tmp = plan.splice[j];

        for (k = j; k > 0 && plan.splice[k - 1].at > tmp.at; k--) {
            plan.splice[k] = plan.splice[k - 1];
        }

        plan.splice[k] = tmp;
    }

    size = 0;
    copied = 0;

    for (j = 0; j < plan.n; j++) {
        sp = &plan.splice[j];

        if (sp->at < copied) {
            continue;                   /* overlaps an earlier one */
        }

        if (out != NULL) {
            memcpy(out + size, body + copied, sp->at - copied);
        }

        size += sp->at - copied;

        for (p = 0; p < sp->n; p++) {
            if (out != NULL) {
                memcpy(out + size, sp->piece[p].data, sp->piece[p].len);
            }

            size += sp->piece[p].len;
        }

        copied = sp->end;
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


/*
 * The variant's edits of req as splices, and the root members it adds
 * (up to 2) in root[]: OpenAI's response_format, Anthropic's system when
 * the body has none.
 */

static void
llmopt_rewrite_variant_plan(const llmopt_request_t *req,
    const llmopt_variant_t *v, llmopt_rewrite_plan_t *plan,
    llmopt_kv_t *root, unsigned *n_root)
{
    int                       m, r, c, sys;
    size_t                    lead_end;
    unsigned                  e, i, openai, lead, last_user;
    const unsigned char      *body;
    const llmopt_json_tok_t  *toks;
    llmopt_rewrite_splice_t  *sp;

    body = req->body;
    toks = req->toks;
    openai = req->dialect == LLMOPT_DIALECT_OPENAI;

    if (v->response_format.len && openai) {
        root[*n_root].key.data = "response_format";
        root[*n_root].key.len = sizeof("response_format") - 1;
        root[*n_root].json = v->response_format;
        (*n_root)++;
    }

    m = llmopt_json_member(body, toks, req->ntoks, 0, "messages", 8);

    if (m < 0 || toks[m].type != JSMN_ARRAY) {
        return;
    }

    /* the messages: the first system one, where the leading ones end,
       the last user one */

    sys = -1;
    lead = 1;
    lead_end = 0;
    last_user = 0;
    i = (unsigned) m + 1;

    for (e = 0; e < (unsigned) toks[m].size; e++) {
        if (toks[i].type == JSMN_OBJECT) {
            r = llmopt_json_member(body, toks, req->ntoks, i, "role", 4);

            if (r >= 0 && openai
                && (llmopt_json_str_eq(body, &toks[r], "system", 6)
                    || llmopt_json_str_eq(body, &toks[r], "developer", 9)))
            {
                if (sys < 0) {
                    sys = (int) i;
                }

                if (lead) {
                    lead_end = (size_t) toks[i].end;
                }

            } else {
                lead = 0;
            }

            if (r >= 0 && llmopt_json_str_eq(body, &toks[r], "user", 4)) {
                last_user = i;
            }

        } else {
            lead = 0;
        }

        i = llmopt_json_skip(toks, req->ntoks, i);
    }

    /* the system prompt */

    if (v->system_str.len) {
        if (!openai) {
            c = llmopt_json_member(body, toks, req->ntoks, 0, "system", 6);

            if (c >= 0) {
                llmopt_rewrite_system(req, v, (unsigned) c, plan);

            } else {
                root[*n_root].key.data = "system";
                root[*n_root].key.len = sizeof("system") - 1;
                root[*n_root].json = v->system_str;
                (*n_root)++;
            }

        } else if (sys >= 0) {
            c = llmopt_json_member(body, toks, req->ntoks, (unsigned) sys,
                                   "content", 7);

            if (c >= 0) {
                llmopt_rewrite_system(req, v, (unsigned) c, plan);
            }

        } else {
            /* a system message first, the examples after it */

            sp = llmopt_rewrite_add(plan, toks[m].start + 1,
                                    toks[m].start + 1);
            if (sp != NULL) {
                llmopt_rewrite_piece(sp, v->system_msg.data,
                                     v->system_msg.len);

                if (v->examples.len) {
                    llmopt_rewrite_piece(sp, ",", 1);
                    llmopt_rewrite_piece(sp, v->examples.data,
                                         v->examples.len);
                }

                if (toks[m].size > 0) {
                    llmopt_rewrite_piece(sp, ",", 1);
                }
            }
        }
    }

    /* the examples, before the conversation */

    if (v->examples.len && !(v->system_str.len && openai && sys < 0)) {
        if (openai && lead_end) {
            sp = llmopt_rewrite_add(plan, lead_end, lead_end);
            if (sp != NULL) {
                llmopt_rewrite_piece(sp, ",", 1);
                llmopt_rewrite_piece(sp, v->examples.data, v->examples.len);
            }

        } else {
            sp = llmopt_rewrite_add(plan, toks[m].start + 1,
                                    toks[m].start + 1);
            if (sp != NULL) {
                llmopt_rewrite_piece(sp, v->examples.data, v->examples.len);

                if (toks[m].size > 0) {
                    llmopt_rewrite_piece(sp, ",", 1);
                }
            }
        }
    }

    /* the instruction after the last user turn */

    if (v->append_str.len && last_user) {
        c = llmopt_json_member(body, toks, req->ntoks, last_user, "content",
                               7);

        if (c >= 0) {
            llmopt_rewrite_append(req, v, (unsigned) c, plan);
        }
    }
}


/* The system prompt's edit of content value c (a string or parts). */

static void
llmopt_rewrite_system(const llmopt_request_t *req, const llmopt_variant_t *v,
    unsigned c, llmopt_rewrite_plan_t *plan)
{
    size_t                    start, end;
    const llmopt_json_tok_t  *tok;
    llmopt_rewrite_splice_t  *sp;

    tok = &req->toks[c];
    llmopt_json_value_span(tok, &start, &end);

    if (v->system_replace
        || (tok->type != JSMN_STRING && tok->type != JSMN_ARRAY))
    {
        /* replaced (a null or odd value too): the text alone */

        sp = llmopt_rewrite_add(plan, start, end);
        if (sp != NULL) {
            llmopt_rewrite_piece(sp, v->system_str.data, v->system_str.len);
        }

        return;
    }

    if (tok->type == JSMN_STRING) {
        /* "text\n\n<theirs>" */

        sp = llmopt_rewrite_add(plan, tok->start, tok->start);
        if (sp != NULL) {
            llmopt_rewrite_piece(sp, v->system_str.data + 1,
                                 v->system_str.len - 2);
            llmopt_rewrite_piece(sp, llmopt_rewrite_blank,
                                 sizeof(llmopt_rewrite_blank) - 1);
        }

        return;
    }

    /* [{"type":"text","text":"text"},<theirs>] */

    sp = llmopt_rewrite_add(plan, tok->start + 1, tok->start + 1);
    if (sp != NULL) {
        llmopt_rewrite_piece(sp, v->system_block.data, v->system_block.len);

        if (tok->size > 0) {
            llmopt_rewrite_piece(sp, ",", 1);
        }
    }
}


/* The instruction at the end of the last user turn's content c. */

static void
llmopt_rewrite_append(const llmopt_request_t *req, const llmopt_variant_t *v,
    unsigned c, llmopt_rewrite_plan_t *plan)
{
    const llmopt_json_tok_t  *tok;
    llmopt_rewrite_splice_t  *sp;

    tok = &req->toks[c];

    if (tok->type == JSMN_STRING) {
        sp = llmopt_rewrite_add(plan, tok->end, tok->end);
        if (sp != NULL) {
            llmopt_rewrite_piece(sp, llmopt_rewrite_blank,
                                 sizeof(llmopt_rewrite_blank) - 1);
            llmopt_rewrite_piece(sp, v->append_str.data + 1,
                                 v->append_str.len - 2);
        }

    } else if (tok->type == JSMN_ARRAY) {
        sp = llmopt_rewrite_add(plan, tok->end - 1, tok->end - 1);
        if (sp != NULL) {
            if (tok->size > 0) {
                llmopt_rewrite_piece(sp, ",", 1);
            }

            llmopt_rewrite_piece(sp, v->append_block.data,
                                 v->append_block.len);
        }
    }
}


static llmopt_rewrite_splice_t *
llmopt_rewrite_add(llmopt_rewrite_plan_t *plan, size_t at, size_t end)
{
    llmopt_rewrite_splice_t  *sp;

    if (plan->n == LLMOPT_REWRITE_SPLICES) {
        return NULL;
    }

    sp = &plan->splice[plan->n++];
    sp->at = at;
    sp->end = end;
    sp->n = 0;

    return sp;
}


static void
llmopt_rewrite_piece(llmopt_rewrite_splice_t *sp, const char *data,
    size_t len)
{
    if (sp->n < LLMOPT_REWRITE_PIECES) {
        sp->piece[sp->n].data = data;
        sp->piece[sp->n].len = len;
        sp->n++;
    }
}

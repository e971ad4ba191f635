/*
 * Copyright (C) llmopt authors
 *
 * An OpenAI Responses API request (/v1/responses) as a chat-completions
 * or an Anthropic messages request: the root, "instructions" and the
 * items of "input" (docs/TRANSLATION.md, "The Responses API").  The
 * parts of a message are written here too; tools and the other options
 * are llmopt_translate_responses_opts.c.
 */


#include <stdio.h>
#include <string.h>

#include "llmopt_translate_write.h"


typedef enum {
    LLMOPT_XLATE_ITEM_OTHER = 0,
    LLMOPT_XLATE_ITEM_USER,             /* a user message */
    LLMOPT_XLATE_ITEM_SYSTEM,           /* a system or developer message */
    LLMOPT_XLATE_ITEM_ASSISTANT,        /* an assistant message */
    LLMOPT_XLATE_ITEM_CALL,             /* function_call */
    LLMOPT_XLATE_ITEM_OUTPUT            /* function_call_output */
} llmopt_xlate_item_e;


static llmopt_xlate_item_e llmopt_xlate_rs_item(llmopt_xlate_req_t *r,
    int item, const char *path, int *rc);
static int llmopt_xlate_rs_oa_items(llmopt_xlate_req_t *r, int input,
    int wrote);
static int llmopt_xlate_rs_oa_calls(llmopt_xlate_req_t *r, int input,
    int *k, int *i);
static int llmopt_xlate_rs_an_system(llmopt_xlate_req_t *r, int input,
    int *first);
static int llmopt_xlate_rs_an_items(llmopt_xlate_req_t *r, int input);
static int llmopt_xlate_rs_an_call(llmopt_xlate_req_t *r, int item,
    const char *path);
static int llmopt_xlate_rs_part(llmopt_xlate_req_t *r, int part,
    const char *path);


static const char *const  llmopt_xlate_rs_root[] = {
    "model", "input", "instructions", "tools", "tool_choice",
    "parallel_tool_calls", "max_output_tokens", "temperature", "top_p",
    "text", "reasoning", "stream", "store", "user", NULL
};

static const char *const  llmopt_xlate_rs_message_keys[] = {
    "type", "role", "content", "id", "status", NULL
};

static const char *const  llmopt_xlate_rs_call_keys[] = {
    "type", "call_id", "name", "arguments", "id", "status", NULL
};

static const char *const  llmopt_xlate_rs_output_keys[] = {
    "type", "call_id", "output", "id", "status", NULL
};


int
llmopt_xlate_rs_request(llmopt_xlate_req_t *r)
{
    int                  rc, i, input, first, an;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;

    d = &r->d;
    out = r->out;
    an = (r->x->upstream == LLMOPT_DIALECT_ANTHROPIC);

    /* the one field dropping cannot make right: it names stored state */

    if (llmopt_xlate_member(d, 0, "previous_response_id") >= 0) {
        llmopt_err_set(r->err, 400, 0, "\"previous_response_id\" needs an "
                       "OpenAI Responses API upstream that stored the "
                       "earlier answer, and the model is served by the %s "
                       "API: send the conversation in \"input\"",
                       an ? "Anthropic messages" : "OpenAI chat completions");
        r->err->type = "invalid_request_error";
        return LLMOPT_ERROR;
    }

    rc = llmopt_xlate_keys(r, 0, llmopt_xlate_rs_root, "");
    if (rc != LLMOPT_OK) {
        return rc;
    }

    i = llmopt_xlate_member(d, 0, "store");
    if (i >= 0 && d->buf[d->toks[i].start] == 't') {
        rc = llmopt_xlate_refuse(r, "store");
        if (rc == LLMOPT_ERROR) {
            return rc;
        }
    }

    input = llmopt_xlate_member(d, 0, "input");
    if (llmopt_xlate_kind(d, input) != LLMOPT_JSON_STRING
        && llmopt_xlate_kind(d, input) != LLMOPT_JSON_ARRAY)
    {
        return llmopt_xlate_bad(r, "input", "must be a string or an array");
    }

    i = llmopt_xlate_member(d, 0, "instructions");
    if (i >= 0 && llmopt_xlate_kind(d, i) != LLMOPT_JSON_STRING) {
        return llmopt_xlate_bad(r, "instructions", "must be a string");
    }

    first = 1;
    llmopt_xlate_lit(out, "{");

    i = llmopt_xlate_member(d, 0, "model");
    if (i >= 0) {
        llmopt_xlate_sep(out, &first);
        llmopt_xlate_lit(out, "\"model\":");
        llmopt_xlate_raw(out, d, i);
    }

    if (an) {
        rc = llmopt_xlate_rs_an_system(r, input, &first);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    llmopt_xlate_sep(out, &first);
    llmopt_xlate_lit(out, "\"messages\":[");

    i = llmopt_xlate_member(d, 0, "instructions");

    if (!an && i >= 0) {
        llmopt_xlate_lit(out, "{\"role\":\"system\",\"content\":");
        llmopt_xlate_raw(out, d, i);
        llmopt_xlate_lit(out, "}");
    }

    if (llmopt_xlate_kind(d, input) == LLMOPT_JSON_STRING) {
        if (!an && i >= 0) {
            llmopt_xlate_lit(out, ",");
        }

        llmopt_xlate_lit(out, "{\"role\":\"user\",\"content\":");
        if (an) {
            llmopt_xlate_lit(out, "[{\"type\":\"text\",\"text\":");
            llmopt_xlate_raw(out, d, input);
            llmopt_xlate_lit(out, "}]");

        } else {
            llmopt_xlate_raw(out, d, input);
        }
        llmopt_xlate_lit(out, "}");

    } else {
        rc = an ? llmopt_xlate_rs_an_items(r, input)
                : llmopt_xlate_rs_oa_items(r, input, i >= 0);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    llmopt_xlate_lit(out, "]");

    i = llmopt_xlate_member(d, 0, "max_output_tokens");

    if (!an) {
        llmopt_xlate_copy(out, d, 0, "max_output_tokens",
                          "max_completion_tokens");

    } else if (i >= 0) {
        llmopt_xlate_lit(out, ",\"max_tokens\":");
        llmopt_xlate_raw(out, d, i);

    } else if (r->x->max_tokens > 0) {
        llmopt_xlate_lit(out, ",\"max_tokens\":");
        llmopt_xlate_int(out, r->x->max_tokens);

    } else {
        return llmopt_xlate_bad(r, "max_output_tokens", "is required by the "
                                "model and the catalog gives it no default");
    }

    llmopt_xlate_copy(out, d, 0, "temperature", "temperature");
    llmopt_xlate_copy(out, d, 0, "top_p", "top_p");

    i = llmopt_xlate_copy(out, d, 0, "stream", "stream");
    if (i >= 0 && d->buf[d->toks[i].start] == 't') {
        r->x->stream = 1;

        if (!an) {
            /* response.completed tells the usage: the upstream must too */
            llmopt_xlate_lit(out, ",\"stream_options\":"
                                  "{\"include_usage\":true}");
        }
    }

    rc = llmopt_xlate_rs_options(r);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    i = llmopt_xlate_member(d, 0, "user");
    if (i >= 0) {
        llmopt_xlate_str(out, an ? ",\"metadata\":{\"user_id\":"
                                 : ",\"user\":");
        llmopt_xlate_raw(out, d, i);
        if (an) {
            llmopt_xlate_lit(out, "}");
        }
    }

    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}


/*
 * What an item of "input" is, its keys checked.  LLMOPT_XLATE_ITEM_OTHER
 * with *rc LLMOPT_OK: skip it (dropped); with *rc set otherwise: fail.
 */

static llmopt_xlate_item_e
llmopt_xlate_rs_item(llmopt_xlate_req_t *r, int item, const char *path,
    int *rc)
{
    int                  type, role;
    llmopt_xlate_doc_t  *d;

    d = &r->d;
    *rc = LLMOPT_OK;

    if (llmopt_xlate_kind(d, item) != LLMOPT_JSON_OBJECT) {
        *rc = llmopt_xlate_bad(r, path, "must be an object");
        return LLMOPT_XLATE_ITEM_OTHER;
    }

    type = llmopt_xlate_member(d, item, "type");

    if (type < 0 || llmopt_xlate_is(d, type, "message")) {
        *rc = llmopt_xlate_keys(r, item, llmopt_xlate_rs_message_keys, path);
        if (*rc != LLMOPT_OK) {
            return LLMOPT_XLATE_ITEM_OTHER;
        }

        role = llmopt_xlate_member(d, item, "role");

        if (llmopt_xlate_kind(d, llmopt_xlate_member(d, item, "content"))
            != LLMOPT_JSON_STRING
            && llmopt_xlate_kind(d, llmopt_xlate_member(d, item, "content"))
               != LLMOPT_JSON_ARRAY)
        {
            *rc = llmopt_xlate_bad(r, path, "needs a \"content\" string or "
                                   "array");
            return LLMOPT_XLATE_ITEM_OTHER;
        }

        if (llmopt_xlate_is(d, role, "user")) {
            return LLMOPT_XLATE_ITEM_USER;
        }

        if (llmopt_xlate_is(d, role, "assistant")) {
            return LLMOPT_XLATE_ITEM_ASSISTANT;
        }

        if (llmopt_xlate_is(d, role, "system")
            || llmopt_xlate_is(d, role, "developer"))
        {
            return LLMOPT_XLATE_ITEM_SYSTEM;
        }

        *rc = llmopt_xlate_bad(r, path, "needs a role of user, assistant, "
                               "system or developer");
        return LLMOPT_XLATE_ITEM_OTHER;
    }

    if (llmopt_xlate_is(d, type, "function_call")) {
        *rc = llmopt_xlate_keys(r, item, llmopt_xlate_rs_call_keys, path);

        if (*rc == LLMOPT_OK
            && (llmopt_xlate_kind(d, llmopt_xlate_member(d, item, "call_id"))
                != LLMOPT_JSON_STRING
                || llmopt_xlate_kind(d, llmopt_xlate_member(d, item, "name"))
                   != LLMOPT_JSON_STRING
                || llmopt_xlate_kind(d, llmopt_xlate_member(d, item,
                                                            "arguments"))
                   != LLMOPT_JSON_STRING))
        {
            *rc = llmopt_xlate_bad(r, path, "needs a call_id, a name and "
                                   "arguments as a string");
        }

        return (*rc == LLMOPT_OK) ? LLMOPT_XLATE_ITEM_CALL
                                  : LLMOPT_XLATE_ITEM_OTHER;
    }

    if (llmopt_xlate_is(d, type, "function_call_output")) {
        *rc = llmopt_xlate_keys(r, item, llmopt_xlate_rs_output_keys, path);

        if (*rc == LLMOPT_OK
            && (llmopt_xlate_kind(d, llmopt_xlate_member(d, item, "call_id"))
                != LLMOPT_JSON_STRING
                || (llmopt_xlate_kind(d, llmopt_xlate_member(d, item,
                                                             "output"))
                    != LLMOPT_JSON_STRING
                    && llmopt_xlate_kind(d, llmopt_xlate_member(d, item,
                                                                "output"))
                       != LLMOPT_JSON_ARRAY)))
        {
            *rc = llmopt_xlate_bad(r, path, "needs a call_id and an output "
                                   "string or array");
        }

        return (*rc == LLMOPT_OK) ? LLMOPT_XLATE_ITEM_OUTPUT
                                  : LLMOPT_XLATE_ITEM_OTHER;
    }

    /* reasoning items, item references, hosted tools' calls */

    *rc = llmopt_xlate_refuse(r, "%s.type", path);
    if (*rc == LLMOPT_DECLINED) {
        *rc = LLMOPT_OK;
    }

    return LLMOPT_XLATE_ITEM_OTHER;
}


/* --- to chat completions ------------------------------------------------- */


/*
 * Each message item is a message; an assistant message and the
 * function_call items after it are one assistant message with tool_calls
 * (the API wants every call of a turn in one message); each
 * function_call_output is a "tool" message.  wrote: a message is
 * already there (the instructions).
 */

static int
llmopt_xlate_rs_oa_items(llmopt_xlate_req_t *r, int input, int wrote)
{
    int                   i, k, n, rc, content, first;
    char                  path[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t   *d;
    llmopt_xlate_out_t   *out;
    llmopt_xlate_item_e   kind;

    d = &r->d;
    out = r->out;
    n = d->toks[input].size;

    for (k = 0, i = input + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        llmopt_xlate_path(path, "input[%d]", k);

        kind = llmopt_xlate_rs_item(r, i, path, &rc);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        if (kind == LLMOPT_XLATE_ITEM_OTHER) {
            continue;
        }

        if (wrote++) {
            llmopt_xlate_lit(out, ",");
        }

        content = llmopt_xlate_member(d, i, "content");

        switch (kind) {

        case LLMOPT_XLATE_ITEM_OUTPUT:
            llmopt_xlate_lit(out, "{\"role\":\"tool\",\"tool_call_id\":");
            llmopt_xlate_raw(out, d, llmopt_xlate_member(d, i, "call_id"));
            llmopt_xlate_lit(out, ",\"content\":");
            content = llmopt_xlate_member(d, i, "output");
            llmopt_xlate_path(path, "input[%d].output", k);
            break;

        case LLMOPT_XLATE_ITEM_ASSISTANT:
        case LLMOPT_XLATE_ITEM_CALL:
            llmopt_xlate_lit(out, "{\"role\":\"assistant\",\"content\":");

            if (kind == LLMOPT_XLATE_ITEM_CALL) {
                llmopt_xlate_lit(out, "null");
                content = -1;

            } else {
                llmopt_xlate_path(path, "input[%d].content", k);
            }

            break;

        default:
            llmopt_xlate_lit(out, "{\"role\":");
            llmopt_xlate_raw(out, d, llmopt_xlate_member(d, i, "role"));
            llmopt_xlate_lit(out, ",\"content\":");
            llmopt_xlate_path(path, "input[%d].content", k);
            break;
        }

        if (llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING) {
            llmopt_xlate_raw(out, d, content);

        } else if (content >= 0) {
            llmopt_xlate_lit(out, "[");
            first = 1;

            rc = llmopt_xlate_rs_parts(r, content, path, &first);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            llmopt_xlate_lit(out, "]");
        }

        if (kind == LLMOPT_XLATE_ITEM_ASSISTANT
            || kind == LLMOPT_XLATE_ITEM_CALL)
        {
            rc = llmopt_xlate_rs_oa_calls(r, input, &k, &i);
            if (rc != LLMOPT_OK) {
                return rc;
            }
        }

        llmopt_xlate_lit(out, "}");
    }

    return LLMOPT_OK;
}


/*
 * The function_call items from item *i on (the first one when *i is a
 * call, else those after the assistant message *i) as "tool_calls";
 * *k and *i are left at the last item taken.
 */

static int
llmopt_xlate_rs_oa_calls(llmopt_xlate_req_t *r, int input, int *k, int *i)
{
    int                  j, m, n, first, rc;
    char                 path[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;

    d = &r->d;
    out = r->out;
    n = d->toks[input].size;
    first = 1;

    j = *i;
    m = *k;

    if (!llmopt_xlate_is(d, llmopt_xlate_member(d, j, "type"),
                         "function_call"))
    {
        j = llmopt_xlate_next(d, j);
        m++;
    }

    for ( /* void */ ; m < n; m++, j = llmopt_xlate_next(d, j)) {
        if (!llmopt_xlate_is(d, llmopt_xlate_member(d, j, "type"),
                             "function_call"))
        {
            break;
        }

        llmopt_xlate_path(path, "input[%d]", m);

        if (llmopt_xlate_rs_item(r, j, path, &rc) != LLMOPT_XLATE_ITEM_CALL) {
            return rc;
        }

        llmopt_xlate_str(out, first ? ",\"tool_calls\":[" : ",");
        first = 0;

        llmopt_xlate_lit(out, "{\"id\":");
        llmopt_xlate_raw(out, d, llmopt_xlate_member(d, j, "call_id"));
        llmopt_xlate_lit(out, ",\"type\":\"function\",\"function\":"
                              "{\"name\":");
        llmopt_xlate_raw(out, d, llmopt_xlate_member(d, j, "name"));
        llmopt_xlate_lit(out, ",\"arguments\":");
        llmopt_xlate_raw(out, d, llmopt_xlate_member(d, j, "arguments"));
        llmopt_xlate_lit(out, "}}");

        *k = m;
        *i = j;
    }

    if (!first) {
        llmopt_xlate_lit(out, "]");
    }

    return LLMOPT_OK;
}


/* --- to Anthropic messages ----------------------------------------------- */


/*
 * "instructions" and the system and developer messages as the top-level
 * "system": the instructions alone stay a string, else text blocks.
 */

static int
llmopt_xlate_rs_an_system(llmopt_xlate_req_t *r, int input, int *first)
{
    int                   i, k, n, rc, inst, content, blocks, nsys;
    char                  path[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t   *d;
    llmopt_xlate_out_t   *out;

    d = &r->d;
    out = r->out;
    inst = llmopt_xlate_member(d, 0, "instructions");
    n = (llmopt_xlate_kind(d, input) == LLMOPT_JSON_ARRAY)
        ? d->toks[input].size : 0;
    nsys = 0;

    for (k = 0, i = input + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        if (llmopt_xlate_is(d, llmopt_xlate_member(d, i, "role"), "system")
            || llmopt_xlate_is(d, llmopt_xlate_member(d, i, "role"),
                               "developer"))
        {
            nsys++;
        }
    }

    if (nsys == 0 && inst < 0) {
        return LLMOPT_OK;
    }

    llmopt_xlate_sep(out, first);
    llmopt_xlate_lit(out, "\"system\":");

    if (nsys == 0) {
        llmopt_xlate_raw(out, d, inst);
        return LLMOPT_OK;
    }

    llmopt_xlate_lit(out, "[");
    blocks = 1;

    if (inst >= 0) {
        llmopt_xlate_lit(out, "{\"type\":\"text\",\"text\":");
        llmopt_xlate_raw(out, d, inst);
        llmopt_xlate_lit(out, "}");
        blocks = 0;
    }

    for (k = 0, i = input + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        llmopt_xlate_path(path, "input[%d]", k);

        if (llmopt_xlate_rs_item(r, i, path, &rc) != LLMOPT_XLATE_ITEM_SYSTEM)
        {
            if (rc != LLMOPT_OK) {
                return rc;
            }

            continue;
        }

        content = llmopt_xlate_member(d, i, "content");
        llmopt_xlate_path(path, "input[%d].content", k);

        rc = llmopt_xlate_rs_parts(r, content, path, &blocks);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    llmopt_xlate_lit(out, "]");

    return LLMOPT_OK;
}


/*
 * User messages and function_call_output items are user turns (a tool
 * result a tool_result block), assistant messages and function_call
 * items assistant turns (a call a tool_use block); consecutive items of
 * one side share one message.  System items were hoisted.
 */

static int
llmopt_xlate_rs_an_items(llmopt_xlate_req_t *r, int input)
{
    int                   i, k, n, rc, v, first, side, open;
    char                  path[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t   *d;
    llmopt_xlate_out_t   *out;
    llmopt_xlate_item_e   kind;

    d = &r->d;
    out = r->out;
    n = d->toks[input].size;
    open = 0;                           /* 0 none, 1 user, 2 assistant */
    first = 1;

    for (k = 0, i = input + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        llmopt_xlate_path(path, "input[%d]", k);

        kind = llmopt_xlate_rs_item(r, i, path, &rc);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        if (kind == LLMOPT_XLATE_ITEM_OTHER
            || kind == LLMOPT_XLATE_ITEM_SYSTEM)
        {
            continue;
        }

        side = (kind == LLMOPT_XLATE_ITEM_USER
                || kind == LLMOPT_XLATE_ITEM_OUTPUT) ? 1 : 2;

        if (side != open) {
            if (open) {
                llmopt_xlate_lit(out, "]},");
            }

            llmopt_xlate_str(out, side == 1 ? "{\"role\":\"user\",\"content\":["
                                 : "{\"role\":\"assistant\",\"content\":[");
            open = side;
            first = 1;
        }

        switch (kind) {

        case LLMOPT_XLATE_ITEM_CALL:
            llmopt_xlate_sep(out, &first);

            rc = llmopt_xlate_rs_an_call(r, i, path);
            break;

        case LLMOPT_XLATE_ITEM_OUTPUT:
            llmopt_xlate_sep(out, &first);
            llmopt_xlate_lit(out, "{\"type\":\"tool_result\","
                                  "\"tool_use_id\":");
            llmopt_xlate_raw(out, d, llmopt_xlate_member(d, i, "call_id"));
            llmopt_xlate_lit(out, ",\"content\":");

            v = llmopt_xlate_member(d, i, "output");

            if (llmopt_xlate_kind(d, v) == LLMOPT_JSON_STRING) {
                llmopt_xlate_raw(out, d, v);
                rc = LLMOPT_OK;

            } else {
                llmopt_xlate_path(path, "input[%d].output", k);
                llmopt_xlate_lit(out, "[");
                v = 1;
                rc = llmopt_xlate_rs_parts(r, llmopt_xlate_member(d, i,
                                                                  "output"),
                                           path, &v);
                llmopt_xlate_lit(out, "]");
            }

            llmopt_xlate_lit(out, "}");
            break;

        default:
            llmopt_xlate_path(path, "input[%d].content", k);
            rc = llmopt_xlate_rs_parts(r, llmopt_xlate_member(d, i,
                                                              "content"),
                                       path, &first);
            break;
        }

        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    if (open) {
        llmopt_xlate_lit(out, "]}");
    }

    return LLMOPT_OK;
}


/* a function_call item as a tool_use block, its arguments decoded */

static int
llmopt_xlate_rs_an_call(llmopt_xlate_req_t *r, int item, const char *path)
{
    int                  args;
    size_t               at;
    unsigned             count;
    llmopt_err_t         e;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;

    d = &r->d;
    out = r->out;
    args = llmopt_xlate_member(d, item, "arguments");

    llmopt_xlate_lit(out, "{\"type\":\"tool_use\",\"id\":");
    llmopt_xlate_raw(out, d, llmopt_xlate_member(d, item, "call_id"));
    llmopt_xlate_lit(out, ",\"name\":");
    llmopt_xlate_raw(out, d, llmopt_xlate_member(d, item, "name"));
    llmopt_xlate_lit(out, ",\"input\":");

    if (d->toks[args].start == d->toks[args].end) {
        llmopt_xlate_lit(out, "{}");

    } else {
        at = out->len;
        llmopt_xlate_unescape(out, d, args);

        /* checked once it is there: the retry with room checks it */

        if (out->len <= out->cap
            && (llmopt_json_parse(out->data + at, out->len - at, NULL, 0, 0,
                                  &count, &e) == LLMOPT_ERROR
                || out->data[at] != '{'))
        {
            return llmopt_xlate_bad(r, path, "has arguments that are not a "
                                    "JSON object");
        }
    }

    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}


/* --- content parts -------------------------------------------------------- */


/*
 * A message's content, a string or an array of parts, as chat parts or
 * Anthropic blocks (a string: one text block; chat callers write strings
 * themselves).  A refused part, when dropping, becomes an empty text part.
 */

int
llmopt_xlate_rs_parts(llmopt_xlate_req_t *r, int content, const char *path,
    int *first)
{
    int                  i, k, n, rc;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;

    d = &r->d;

    if (llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING) {
        llmopt_xlate_sep(r->out, first);
        llmopt_xlate_lit(r->out, "{\"type\":\"text\",\"text\":");
        llmopt_xlate_raw(r->out, d, content);
        llmopt_xlate_lit(r->out, "}");
        return LLMOPT_OK;
    }

    if (llmopt_xlate_kind(d, content) != LLMOPT_JSON_ARRAY) {
        return llmopt_xlate_bad(r, path, "must be a string or an array");
    }

    n = d->toks[content].size;

    for (k = 0, i = content + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        llmopt_xlate_path(sub, "%s[%d]", path, k);
        llmopt_xlate_sep(r->out, first);

        rc = llmopt_xlate_rs_part(r, i, sub);

        if (rc == LLMOPT_DECLINED) {
            llmopt_xlate_lit(r->out, "{\"type\":\"text\",\"text\":\"\"}");

        } else if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    return LLMOPT_OK;
}


static int
llmopt_xlate_rs_part(llmopt_xlate_req_t *r, int part, const char *path)
{
    int                  type, v, rc, an;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  text_keys[] = { "type", "text", "annotations",
                                              "logprobs", NULL };
    static const char *const  image_keys[] = { "type", "image_url",
                                               "detail", "file_id", NULL };
    static const char *const  file_keys[] = { "type", "file_data",
                                              "filename", "file_id", NULL };

    d = &r->d;
    out = r->out;
    an = (r->x->upstream == LLMOPT_DIALECT_ANTHROPIC);
    type = llmopt_xlate_member(d, part, "type");

    if (llmopt_xlate_kind(d, part) != LLMOPT_JSON_OBJECT) {
        return llmopt_xlate_bad(r, path, "must be an object");
    }

    if (llmopt_xlate_is(d, type, "input_text")
        || llmopt_xlate_is(d, type, "output_text"))
    {
        rc = llmopt_xlate_keys(r, part, text_keys, path);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        v = llmopt_xlate_member(d, part, "text");
        if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
            return llmopt_xlate_bad(r, path, "needs a \"text\" string");
        }

        llmopt_xlate_lit(out, "{\"type\":\"text\",\"text\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, "}");
        return LLMOPT_OK;
    }

    if (llmopt_xlate_is(d, type, "input_image")) {
        rc = llmopt_xlate_keys(r, part, image_keys, path);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        if (llmopt_xlate_member(d, part, "file_id") >= 0) {
            return llmopt_xlate_refuse(r, "%s.file_id", path);
        }

        v = llmopt_xlate_member(d, part, "detail");
        if (an && v >= 0 && !llmopt_xlate_is(d, v, "auto")) {
            return llmopt_xlate_refuse(r, "%s.detail", path);
        }

        v = llmopt_xlate_member(d, part, "image_url");
        if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
            return llmopt_xlate_bad(r, path, "needs an \"image_url\" string");
        }

        if (!an) {
            llmopt_xlate_lit(out, "{\"type\":\"image_url\",\"image_url\":"
                                  "{\"url\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_copy(out, d, part, "detail", "detail");
            llmopt_xlate_lit(out, "}}");
            return LLMOPT_OK;
        }

        llmopt_xlate_lit(out, "{\"type\":\"image\",\"source\":");

        if (llmopt_xlate_is_data_url(d, v)) {
            rc = llmopt_xlate_data_url(r, v, path);
            if (rc != LLMOPT_OK) {
                return rc;
            }

        } else {
            llmopt_xlate_lit(out, "{\"type\":\"url\",\"url\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_lit(out, "}");
        }

        llmopt_xlate_lit(out, "}");
        return LLMOPT_OK;
    }

    if (llmopt_xlate_is(d, type, "input_file")) {
        rc = llmopt_xlate_keys(r, part, file_keys, path);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        if (!an) {
            llmopt_xlate_lit(out, "{\"type\":\"file\",\"file\":{");
            v = 1;

            if (llmopt_xlate_member(d, part, "file_data") >= 0) {
                llmopt_xlate_lit(out, "\"file_data\":");
                llmopt_xlate_raw(out, d, llmopt_xlate_member(d, part,
                                                             "file_data"));
                v = 0;
            }

            if (llmopt_xlate_member(d, part, "file_id") >= 0) {
                llmopt_xlate_str(out, v ? "\"file_id\":" : ",\"file_id\":");
                llmopt_xlate_raw(out, d, llmopt_xlate_member(d, part,
                                                             "file_id"));
                v = 0;
            }

            if (v) {
                return llmopt_xlate_bad(r, path, "needs \"file_data\" or "
                                        "\"file_id\"");
            }

            llmopt_xlate_copy(out, d, part, "filename", "filename");
            llmopt_xlate_lit(out, "}}");
            return LLMOPT_OK;
        }

        if (llmopt_xlate_member(d, part, "file_id") >= 0) {
            return llmopt_xlate_refuse(r, "%s.file_id", path);
        }

        v = llmopt_xlate_member(d, part, "file_data");
        if (!llmopt_xlate_is_data_url(d, v)) {
            return llmopt_xlate_bad(r, path, "needs \"file_data\" as a data "
                                    "URL");
        }

        llmopt_xlate_lit(out, "{\"type\":\"document\",\"source\":");

        rc = llmopt_xlate_data_url(r, v, path);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        llmopt_xlate_copy(out, d, part, "filename", "title");
        llmopt_xlate_lit(out, "}");
        return LLMOPT_OK;
    }

    /* refusal parts, audio, hosted tools' content */

    return llmopt_xlate_refuse(r, "%s.type", path);
}

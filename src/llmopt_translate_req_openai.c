/*
 * Copyright (C) llmopt authors
 *
 * An OpenAI chat-completions request as an Anthropic messages request
 * (docs/TRANSLATION.md, "Requests").
 */


#include <stdio.h>
#include <string.h>

#include "llmopt_translate_write.h"


static int llmopt_xlate_oa_system(llmopt_xlate_req_t *r, int msgs);
static int llmopt_xlate_oa_messages(llmopt_xlate_req_t *r, int msgs);
static int llmopt_xlate_oa_part(llmopt_xlate_req_t *r, int part,
    const char *path);
static int llmopt_xlate_oa_inner(llmopt_xlate_req_t *r, int part,
    const char *const *keys, const char *name, const char *const *inner,
    const char *path, char *sub, int *rc);
static int llmopt_xlate_oa_tool_calls(llmopt_xlate_req_t *r, int calls,
    const char *path, int *first);
static int llmopt_xlate_oa_tools(llmopt_xlate_req_t *r, int root);
static int llmopt_xlate_oa_tool_choice(llmopt_xlate_req_t *r, int root);


static const char *const  llmopt_xlate_oa_root[] = {
    "model", "messages", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "stop", "stream", "stream_options", "tools",
    "tool_choice", "parallel_tool_calls", "response_format",
    "reasoning_effort", "user", "n", NULL
};

int
llmopt_xlate_oa_to_an(llmopt_xlate_req_t *r)
{
    int                 rc, i, msgs, opts, first;
    int64_t             n, budget;
    llmopt_xlate_out_t *out;
    llmopt_xlate_doc_t *d;
    static const char *const  stream_keys[] = { "include_usage", NULL };

    d = &r->d;
    out = r->out;

    rc = llmopt_xlate_keys(r, 0, llmopt_xlate_oa_root, "");
    if (rc != LLMOPT_OK) {
        return rc;
    }

    i = llmopt_xlate_member(d, 0, "n");
    if (i >= 0 && (llmopt_json_int(d->buf, &d->toks[i], &n) != LLMOPT_OK
                   || n != 1))
    {
        rc = llmopt_xlate_refuse(r, "n");
        if (rc == LLMOPT_ERROR) {
            return rc;
        }
    }

    msgs = llmopt_xlate_member(d, 0, "messages");
    if (llmopt_xlate_kind(d, msgs) != LLMOPT_JSON_ARRAY) {
        return llmopt_xlate_bad(r, "messages", "must be an array");
    }

    first = 1;
    llmopt_xlate_lit(out, "{");

    i = llmopt_xlate_member(d, 0, "model");
    if (i >= 0) {
        llmopt_xlate_sep(out, &first);
        llmopt_xlate_lit(out, "\"model\":");
        llmopt_xlate_raw(out, d, i);
    }

    rc = llmopt_xlate_oa_system(r, msgs);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    llmopt_xlate_lit(out, ",\"messages\":[");
    rc = llmopt_xlate_oa_messages(r, msgs);
    if (rc != LLMOPT_OK) {
        return rc;
    }
    llmopt_xlate_lit(out, "]");

    i = llmopt_xlate_member(d, 0, "max_completion_tokens");
    if (i < 0) {
        i = llmopt_xlate_member(d, 0, "max_tokens");
    }

    llmopt_xlate_lit(out, ",\"max_tokens\":");

    if (i >= 0) {
        llmopt_xlate_raw(out, d, i);

    } else if (r->x->max_tokens > 0) {
        llmopt_xlate_int(out, r->x->max_tokens);

    } else {
        return llmopt_xlate_bad(r, "max_tokens", "is required by the model "
                                "and the catalog gives it no default");
    }

    llmopt_xlate_copy(out, d, 0, "temperature", "temperature");
    llmopt_xlate_copy(out, d, 0, "top_p", "top_p");

    i = llmopt_xlate_member(d, 0, "stop");
    if (llmopt_xlate_kind(d, i) == LLMOPT_JSON_STRING) {
        llmopt_xlate_lit(out, ",\"stop_sequences\":[");
        llmopt_xlate_raw(out, d, i);
        llmopt_xlate_lit(out, "]");

    } else if (llmopt_xlate_kind(d, i) == LLMOPT_JSON_ARRAY) {
        llmopt_xlate_lit(out, ",\"stop_sequences\":");
        llmopt_xlate_raw(out, d, i);

    } else if (i >= 0) {
        return llmopt_xlate_bad(r, "stop", "must be a string or an array");
    }

    i = llmopt_xlate_copy(out, d, 0, "stream", "stream");
    if (i >= 0) {
        r->x->stream = (d->buf[d->toks[i].start] == 't');
    }

    opts = llmopt_xlate_member(d, 0, "stream_options");
    if (opts >= 0) {
        rc = llmopt_xlate_keys(r, opts, stream_keys, "stream_options");
        if (rc != LLMOPT_OK) {
            return rc;
        }

        i = llmopt_xlate_member(d, opts, "include_usage");
        r->x->include_usage = (i >= 0 && d->buf[d->toks[i].start] == 't');
    }

    rc = llmopt_xlate_oa_tools(r, 0);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    rc = llmopt_xlate_oa_tool_choice(r, 0);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    i = llmopt_xlate_member(d, 0, "reasoning_effort");
    if (i >= 0) {
        budget = -1;

        if (llmopt_xlate_is(d, i, "minimal") || llmopt_xlate_is(d, i, "low")) {
            budget = LLMOPT_XLATE_BUDGET_LOW;

        } else if (llmopt_xlate_is(d, i, "medium")) {
            budget = LLMOPT_XLATE_BUDGET_MEDIUM;

        } else if (llmopt_xlate_is(d, i, "high")) {
            budget = LLMOPT_XLATE_BUDGET_HIGH;

        } else if (!llmopt_xlate_is(d, i, "none")) {
            rc = llmopt_xlate_refuse(r, "reasoning_effort");
            if (rc == LLMOPT_ERROR) {
                return rc;
            }
        }

        if (budget > 0) {
            llmopt_xlate_lit(out, ",\"thinking\":{\"type\":\"enabled\","
                                  "\"budget_tokens\":");
            llmopt_xlate_int(out, budget);
            llmopt_xlate_lit(out, "}");
        }
    }

    i = llmopt_xlate_member(d, 0, "user");
    if (i >= 0) {
        llmopt_xlate_lit(out, ",\"metadata\":{\"user_id\":");
        llmopt_xlate_raw(out, d, i);
        llmopt_xlate_lit(out, "}");
    }

    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}


/*
 * The system and developer messages, wherever they are, become the
 * top-level "system": one string stays a string, else text blocks.
 */

static int
llmopt_xlate_oa_system(llmopt_xlate_req_t *r, int msgs)
{
    int          i, k, n, nsys, last, content, first, rc;
    char         path[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    static const char *const  known[] = { "role", "content", NULL };

    d = &r->d;
    n = d->toks[msgs].size;
    nsys = 0;
    last = -1;

    for (k = 0, i = msgs + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        if (llmopt_xlate_is(d, llmopt_xlate_member(d, i, "role"), "system")
            || llmopt_xlate_is(d, llmopt_xlate_member(d, i, "role"),
                               "developer"))
        {
            llmopt_xlate_path(path, "messages[%d]", k);

            rc = llmopt_xlate_keys(r, i, known, path);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            nsys++;
            last = i;
        }
    }

    if (nsys == 0) {
        return LLMOPT_OK;
    }

    content = llmopt_xlate_member(d, last, "content");

    if (nsys == 1 && llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING) {
        llmopt_xlate_lit(r->out, ",\"system\":");
        llmopt_xlate_raw(r->out, d, content);
        return LLMOPT_OK;
    }

    llmopt_xlate_lit(r->out, ",\"system\":[");
    first = 1;

    for (k = 0, i = msgs + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        if (!llmopt_xlate_is(d, llmopt_xlate_member(d, i, "role"), "system")
            && !llmopt_xlate_is(d, llmopt_xlate_member(d, i, "role"),
                                "developer"))
        {
            continue;
        }

        llmopt_xlate_path(path, "messages[%d].content", k);

        rc = llmopt_xlate_parts_text(r, llmopt_xlate_member(d, i, "content"),
                                     path, &first);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    llmopt_xlate_lit(r->out, "]");

    return LLMOPT_OK;
}


static int
llmopt_xlate_oa_messages(llmopt_xlate_req_t *r, int msgs)
{
    int                  i, k, n, j, m, q, role, content, calls, rc;
    int                  first, in_results, bfirst;
    char                 path[LLMOPT_XLATE_PATH_MAX];
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  user_keys[] = { "role", "content", NULL };
    static const char *const  asst_keys[] = { "role", "content",
                                              "tool_calls", NULL };
    static const char *const  tool_keys[] = { "role", "content",
                                              "tool_call_id", NULL };

    d = &r->d;
    out = r->out;
    n = d->toks[msgs].size;
    first = 1;
    in_results = 0;

    for (k = 0, i = msgs + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        llmopt_xlate_path(path, "messages[%d]", k);

        role = llmopt_xlate_member(d, i, "role");
        content = llmopt_xlate_member(d, i, "content");

        if (llmopt_xlate_is(d, role, "system")
            || llmopt_xlate_is(d, role, "developer"))
        {
            continue;
        }

        if (llmopt_xlate_is(d, role, "tool")) {
            rc = llmopt_xlate_keys(r, i, tool_keys, path);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            j = llmopt_xlate_member(d, i, "tool_call_id");
            if (llmopt_xlate_kind(d, j) != LLMOPT_JSON_STRING) {
                return llmopt_xlate_bad(r, path, "needs a tool_call_id");
            }

            /* consecutive tool results go into one user message */

            if (!in_results) {
                llmopt_xlate_sep(out, &first);
                llmopt_xlate_lit(out, "{\"role\":\"user\",\"content\":[");
                in_results = 1;

            } else {
                llmopt_xlate_lit(out, ",");
            }

            llmopt_xlate_lit(out, "{\"type\":\"tool_result\","
                                  "\"tool_use_id\":");
            llmopt_xlate_raw(out, d, j);
            llmopt_xlate_lit(out, ",\"content\":");

            if (llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING) {
                llmopt_xlate_raw(out, d, content);

            } else {
                llmopt_xlate_path(sub, "%s.content", path);
                llmopt_xlate_lit(out, "[");
                bfirst = 1;
                rc = llmopt_xlate_parts_text(r, content, sub, &bfirst);
                if (rc != LLMOPT_OK) {
                    return rc;
                }
                llmopt_xlate_lit(out, "]");
            }

            llmopt_xlate_lit(out, "}");
            continue;
        }

        if (in_results) {
            llmopt_xlate_lit(out, "]}");
            in_results = 0;
        }

        if (llmopt_xlate_is(d, role, "user")) {
            rc = llmopt_xlate_keys(r, i, user_keys, path);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            llmopt_xlate_sep(out, &first);
            llmopt_xlate_lit(out, "{\"role\":\"user\",\"content\":");

            if (llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING) {
                llmopt_xlate_raw(out, d, content);

            } else if (llmopt_xlate_kind(d, content) == LLMOPT_JSON_ARRAY) {
                llmopt_xlate_lit(out, "[");
                m = d->toks[content].size;
                bfirst = 1;

                for (j = 0, q = content + 1; j < m;
                     j++, q = llmopt_xlate_next(d, q))
                {
                    llmopt_xlate_path(sub, "%s.content[%d]", path, j);
                    llmopt_xlate_sep(out, &bfirst);
                    rc = llmopt_xlate_oa_part(r, q, sub);
                    if (rc == LLMOPT_ERROR) {
                        return rc;
                    }
                }

                llmopt_xlate_lit(out, "]");

            } else {
                return llmopt_xlate_bad(r, path, "needs content");
            }

            llmopt_xlate_lit(out, "}");
            continue;
        }

        if (!llmopt_xlate_is(d, role, "assistant")) {
            rc = llmopt_xlate_refuse(r, "%s.role", path);
            if (rc == LLMOPT_ERROR) {
                return rc;
            }

            continue;
        }

        rc = llmopt_xlate_keys(r, i, asst_keys, path);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        calls = llmopt_xlate_member(d, i, "tool_calls");
        if (calls >= 0 && (llmopt_xlate_kind(d, calls) != LLMOPT_JSON_ARRAY
                           || d->toks[calls].size == 0))
        {
            calls = -1;
        }

        llmopt_xlate_sep(out, &first);
        llmopt_xlate_lit(out, "{\"role\":\"assistant\",\"content\":");

        if (calls < 0 && llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING) {
            llmopt_xlate_raw(out, d, content);
            llmopt_xlate_lit(out, "}");
            continue;
        }

        llmopt_xlate_lit(out, "[");
        bfirst = 1;

        if (content >= 0
            && !(llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING
                 && d->toks[content].start == d->toks[content].end))
        {
            llmopt_xlate_path(sub, "%s.content", path);
            rc = llmopt_xlate_parts_text(r, content, sub, &bfirst);
            if (rc != LLMOPT_OK) {
                return rc;
            }
        }

        if (calls >= 0) {
            llmopt_xlate_path(sub, "%s.tool_calls", path);
            rc = llmopt_xlate_oa_tool_calls(r, calls, sub, &bfirst);
            if (rc != LLMOPT_OK) {
                return rc;
            }
        }

        llmopt_xlate_lit(out, "]}");
    }

    if (in_results) {
        llmopt_xlate_lit(out, "]}");
    }

    return LLMOPT_OK;
}


/* one content part of a user message as an Anthropic block */

static int
llmopt_xlate_oa_part(llmopt_xlate_req_t *r, int part, const char *path)
{
    int                  type, v, url, rc;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  image_keys[] = { "type", "image_url", NULL };
    static const char *const  url_keys[] = { "url", "detail", NULL };
    static const char *const  file_keys[] = { "type", "file", NULL };
    static const char *const  data_keys[] = { "file_data", "filename", NULL };

    d = &r->d;
    out = r->out;
    type = llmopt_xlate_member(d, part, "type");

    if (llmopt_xlate_is(d, type, "text")) {
        return llmopt_xlate_text_block(r, part, path);
    }

    if (llmopt_xlate_is(d, type, "image_url")) {
        v = llmopt_xlate_oa_inner(r, part, image_keys, "image_url", url_keys,
                                  path, sub, &rc);
        if (v < 0) {
            return rc;
        }

        /* "auto" is what no detail means; the others have no counterpart */

        url = llmopt_xlate_member(d, v, "detail");
        if (url >= 0 && !llmopt_xlate_is(d, url, "auto")) {
            rc = llmopt_xlate_refuse(r, "%s.detail", sub);
            if (rc == LLMOPT_ERROR) {
                return rc;
            }
        }

        url = llmopt_xlate_member(d, v, "url");
        if (llmopt_xlate_kind(d, url) != LLMOPT_JSON_STRING) {
            return llmopt_xlate_bad(r, sub, "needs a \"url\" string");
        }

        llmopt_xlate_lit(out, "{\"type\":\"image\",\"source\":");

        if (llmopt_xlate_is_data_url(d, url)) {
            rc = llmopt_xlate_data_url(r, url, sub);
            if (rc != LLMOPT_OK) {
                return rc;
            }

        } else {
            llmopt_xlate_lit(out, "{\"type\":\"url\",\"url\":");
            llmopt_xlate_raw(out, d, url);
            llmopt_xlate_lit(out, "}");
        }

        llmopt_xlate_lit(out, "}");
        return LLMOPT_OK;
    }

    if (llmopt_xlate_is(d, type, "file")) {
        v = llmopt_xlate_oa_inner(r, part, file_keys, "file", data_keys, path,
                                  sub, &rc);
        if (v < 0) {
            return rc;
        }

        url = llmopt_xlate_member(d, v, "file_data");
        if (!llmopt_xlate_is_data_url(d, url)) {
            return llmopt_xlate_bad(r, sub, "needs \"file_data\" as a data "
                                    "URL (file ids have no counterpart)");
        }

        llmopt_xlate_lit(out, "{\"type\":\"document\",\"source\":");
        rc = llmopt_xlate_data_url(r, url, sub);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        url = llmopt_xlate_member(d, v, "filename");
        if (url >= 0) {
            llmopt_xlate_lit(out, ",\"title\":");
            llmopt_xlate_raw(out, d, url);
        }

        llmopt_xlate_lit(out, "}");
        return LLMOPT_OK;
    }

    rc = llmopt_xlate_refuse(r, "%s.type", path);
    if (rc == LLMOPT_DECLINED) {
        /* dropped: an empty text block keeps the array well formed */
        llmopt_xlate_lit(out, "{\"type\":\"text\",\"text\":\"\"}");
        return LLMOPT_OK;
    }

    return rc;
}


/*
 * A part's keys, then its object member name (path "path.name" into sub)
 * and that one's keys: the member's index, or -1 with *rc the error.
 */

static int
llmopt_xlate_oa_inner(llmopt_xlate_req_t *r, int part,
    const char *const *keys, const char *name, const char *const *inner,
    const char *path, char *sub, int *rc)
{
    int  v;

    *rc = llmopt_xlate_keys(r, part, keys, path);
    if (*rc != LLMOPT_OK) {
        return -1;
    }

    llmopt_xlate_path(sub, "%s.%s", path, name);
    v = llmopt_xlate_member(&r->d, part, name);

    *rc = llmopt_xlate_keys(r, v, inner, sub);
    if (*rc != LLMOPT_OK) {
        return -1;
    }

    return v;
}


/* "data:<type>;base64,<data>" as an Anthropic base64 source */

int
llmopt_xlate_data_url(llmopt_xlate_req_t *r, int url, const char *path)
{
    const unsigned char  *p, *end, *semi;

    p = r->d.buf + r->d.toks[url].start + 5;
    end = r->d.buf + r->d.toks[url].end;

    for (semi = p; semi < end && *semi != ';' && *semi != ','; semi++) {
        /* void */
    }

    if (end - semi < 8 || memcmp(semi, ";base64,", 8) != 0 || semi == p) {
        return llmopt_xlate_bad(r, path, "has a data URL that is not "
                                "\"data:<media type>;base64,...\"");
    }

    llmopt_xlate_lit(r->out, "{\"type\":\"base64\",\"media_type\":\"");
    llmopt_xlate_put(r->out, p, (size_t) (semi - p));
    llmopt_xlate_lit(r->out, "\",\"data\":\"");
    llmopt_xlate_put(r->out, semi + 8, (size_t) (end - semi - 8));
    llmopt_xlate_lit(r->out, "\"}");

    return LLMOPT_OK;
}


/* an assistant's tool_calls as tool_use blocks, arguments decoded */

static int
llmopt_xlate_oa_tool_calls(llmopt_xlate_req_t *r, int calls,
    const char *path, int *first)
{
    int                  i, k, n, fn, id, name, args, rc;
    size_t               at;
    unsigned             count;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_err_t         e;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  call_keys[] = { "id", "type", "function",
                                              NULL };
    static const char *const  fn_keys[] = { "name", "arguments", NULL };

    d = &r->d;
    out = r->out;
    n = d->toks[calls].size;

    for (k = 0, i = calls + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        llmopt_xlate_path(sub, "%s[%d]", path, k);

        rc = llmopt_xlate_keys(r, i, call_keys, sub);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        id = llmopt_xlate_member(d, i, "id");
        fn = llmopt_xlate_member(d, i, "function");

        rc = llmopt_xlate_keys(r, fn, fn_keys, sub);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        name = llmopt_xlate_member(d, fn, "name");
        args = llmopt_xlate_member(d, fn, "arguments");

        if (llmopt_xlate_kind(d, id) != LLMOPT_JSON_STRING
            || llmopt_xlate_kind(d, name) != LLMOPT_JSON_STRING
            || (args >= 0 && llmopt_xlate_kind(d, args) != LLMOPT_JSON_STRING))
        {
            return llmopt_xlate_bad(r, sub, "needs an id, a function name "
                                    "and arguments as a string");
        }

        llmopt_xlate_sep(out, first);
        llmopt_xlate_lit(out, "{\"type\":\"tool_use\",\"id\":");
        llmopt_xlate_raw(out, d, id);
        llmopt_xlate_lit(out, ",\"name\":");
        llmopt_xlate_raw(out, d, name);
        llmopt_xlate_lit(out, ",\"input\":");

        if (args < 0 || d->toks[args].start == d->toks[args].end) {
            llmopt_xlate_lit(out, "{}");

        } else {
            at = out->len;
            llmopt_xlate_unescape(out, d, args);

            /* checked once it is there: the retry with room checks it */

            if (out->len <= out->cap
                && llmopt_json_parse(out->data + at, out->len - at, NULL, 0,
                                     0, &count, &e) == LLMOPT_ERROR)
            {
                return llmopt_xlate_bad(r, sub, "has arguments that are not "
                                        "a JSON object");
            }
        }

        llmopt_xlate_lit(out, "}");
    }

    return LLMOPT_OK;
}


/* tools, and response_format as a forced tool, into "tools" */

static int
llmopt_xlate_oa_tools(llmopt_xlate_req_t *r, int root)
{
    int                  tools, i, k, n, fn, v, fmt, js, type, first, rc;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  tool_keys[] = { "type", "function", NULL };
    static const char *const  fn_keys[] = { "name", "description",
                                            "parameters", "strict", NULL };
    static const char *const  fmt_keys[] = { "type", "json_schema", NULL };
    static const char *const  js_keys[] = { "name", "description", "schema",
                                            "strict", NULL };

    d = &r->d;
    out = r->out;
    tools = llmopt_xlate_member(d, root, "tools");
    fmt = llmopt_xlate_member(d, root, "response_format");
    js = -1;

    if (fmt >= 0) {
        rc = llmopt_xlate_keys(r, fmt, fmt_keys, "response_format");
        if (rc != LLMOPT_OK) {
            return rc;
        }

        type = llmopt_xlate_member(d, fmt, "type");

        if (llmopt_xlate_is(d, type, "json_schema")) {
            js = llmopt_xlate_member(d, fmt, "json_schema");
            rc = llmopt_xlate_keys(r, js, js_keys,
                                   "response_format.json_schema");
            if (rc != LLMOPT_OK) {
                return rc;
            }

            v = llmopt_xlate_member(d, js, "name");
            if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING
                || llmopt_json_unescape(NULL, d->buf, &d->toks[v])
                   > LLMOPT_XLATE_NAME_MAX)
            {
                return llmopt_xlate_bad(r, "response_format.json_schema",
                                        "needs a name of at most 128 bytes");
            }

            r->x->json_tool_len = llmopt_json_unescape(
                          (unsigned char *) r->x->json_tool_name, d->buf,
                          &d->toks[v]);
            r->x->json_tool = 1;

        } else if (llmopt_xlate_is(d, type, "json_object")) {
            memcpy(r->x->json_tool_name, "json_output", 11);
            r->x->json_tool_len = 11;
            r->x->json_tool = 1;

        } else if (!llmopt_xlate_is(d, type, "text")) {
            rc = llmopt_xlate_refuse(r, "response_format.type");
            if (rc == LLMOPT_ERROR) {
                return rc;
            }
        }
    }

    if (tools < 0 && !r->x->json_tool) {
        return LLMOPT_OK;
    }

    llmopt_xlate_lit(out, ",\"tools\":[");
    first = 1;

    if (tools >= 0) {
        if (llmopt_xlate_kind(d, tools) != LLMOPT_JSON_ARRAY) {
            return llmopt_xlate_bad(r, "tools", "must be an array");
        }

        n = d->toks[tools].size;

        for (k = 0, i = tools + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
            llmopt_xlate_path(sub, "tools[%d]", k);

            rc = llmopt_xlate_keys(r, i, tool_keys, sub);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            if (!llmopt_xlate_is(d, llmopt_xlate_member(d, i, "type"),
                                 "function"))
            {
                rc = llmopt_xlate_refuse(r, "%s.type", sub);
                if (rc == LLMOPT_ERROR) {
                    return rc;
                }

                continue;
            }

            fn = llmopt_xlate_member(d, i, "function");
            llmopt_xlate_path(sub, "tools[%d].function", k);

            rc = llmopt_xlate_keys(r, fn, fn_keys, sub);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            v = llmopt_xlate_member(d, fn, "strict");
            if (v >= 0 && d->buf[d->toks[v].start] == 't') {
                rc = llmopt_xlate_refuse(r, "%s.strict", sub);
                if (rc == LLMOPT_ERROR) {
                    return rc;
                }
            }

            v = llmopt_xlate_member(d, fn, "name");
            if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
                return llmopt_xlate_bad(r, sub, "needs a name");
            }

            llmopt_xlate_sep(out, &first);
            llmopt_xlate_lit(out, "{\"name\":");
            llmopt_xlate_raw(out, d, v);

            v = llmopt_xlate_member(d, fn, "description");
            if (v >= 0) {
                llmopt_xlate_lit(out, ",\"description\":");
                llmopt_xlate_raw(out, d, v);
            }

            llmopt_xlate_lit(out, ",\"input_schema\":");
            v = llmopt_xlate_member(d, fn, "parameters");
            if (v >= 0) {
                llmopt_xlate_raw(out, d, v);

            } else {
                llmopt_xlate_lit(out, "{\"type\":\"object\","
                                      "\"properties\":{}}");
            }

            llmopt_xlate_lit(out, "}");
        }
    }

    if (r->x->json_tool) {
        llmopt_xlate_sep(out, &first);
        llmopt_xlate_lit(out, "{\"name\":");
        llmopt_xlate_quote(out, r->x->json_tool_name, r->x->json_tool_len);

        v = llmopt_xlate_member(d, js, "description");
        if (v >= 0) {
            llmopt_xlate_lit(out, ",\"description\":");
            llmopt_xlate_raw(out, d, v);
        }

        llmopt_xlate_lit(out, ",\"input_schema\":");
        v = llmopt_xlate_member(d, js, "schema");
        if (v >= 0) {
            llmopt_xlate_raw(out, d, v);

        } else {
            llmopt_xlate_lit(out, "{\"type\":\"object\"}");
        }

        llmopt_xlate_lit(out, "}");
    }

    llmopt_xlate_lit(out, "]");

    return LLMOPT_OK;
}


static int
llmopt_xlate_oa_tool_choice(llmopt_xlate_req_t *r, int root)
{
    int                  tc, par, fn, name, serial, rc;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;

    d = &r->d;
    out = r->out;
    tc = llmopt_xlate_member(d, root, "tool_choice");
    par = llmopt_xlate_member(d, root, "parallel_tool_calls");
    serial = (par >= 0 && d->buf[d->toks[par].start] == 'f');

    if (r->x->json_tool) {
        if (tc >= 0) {
            rc = llmopt_xlate_refuse(r, "tool_choice");
            if (rc == LLMOPT_ERROR) {
                return rc;
            }
        }

        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"tool\",\"name\":");
        llmopt_xlate_quote(out, r->x->json_tool_name, r->x->json_tool_len);

    } else if (tc < 0) {
        if (!serial) {
            return LLMOPT_OK;
        }

        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"auto\"");

    } else if (llmopt_xlate_is(d, tc, "auto")) {
        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"auto\"");

    } else if (llmopt_xlate_is(d, tc, "required")) {
        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"any\"");

    } else if (llmopt_xlate_is(d, tc, "none")) {
        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"none\"");

    } else {
        fn = llmopt_xlate_member(d, tc, "function");
        name = llmopt_xlate_member(d, fn, "name");

        if (!llmopt_xlate_is(d, llmopt_xlate_member(d, tc, "type"),
                             "function")
            || llmopt_xlate_kind(d, name) != LLMOPT_JSON_STRING)
        {
            return llmopt_xlate_bad(r, "tool_choice", "is not a tool choice");
        }

        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"tool\",\"name\":");
        llmopt_xlate_raw(out, d, name);
    }

    if (serial) {
        llmopt_xlate_lit(out, ",\"disable_parallel_tool_use\":true");
    }

    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}

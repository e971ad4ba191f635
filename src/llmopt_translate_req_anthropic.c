/*
 * Copyright (C) llmopt authors
 *
 * An Anthropic messages request as an OpenAI chat-completions request
 * (docs/TRANSLATION.md, "Requests").
 */


#include <string.h>

#include "llmopt_translate_write.h"


static int llmopt_xlate_an_system(llmopt_xlate_req_t *r, int system,
    int *first);
static int llmopt_xlate_an_messages(llmopt_xlate_req_t *r, int msgs,
    int *first);
static int llmopt_xlate_an_user(llmopt_xlate_req_t *r, int content,
    const char *path, int *first);
static int llmopt_xlate_an_block(llmopt_xlate_req_t *r, int block,
    const char *path);
static int llmopt_xlate_an_assistant(llmopt_xlate_req_t *r, int content,
    const char *path);
static int llmopt_xlate_an_tool_result(llmopt_xlate_req_t *r, int block,
    const char *path, int *first);
static int llmopt_xlate_an_tools(llmopt_xlate_req_t *r, int root);
static int llmopt_xlate_an_options(llmopt_xlate_req_t *r, int root);


static const char *const  llmopt_xlate_an_root[] = {
    "model", "messages", "system", "max_tokens", "temperature", "top_p",
    "stop_sequences", "stream", "tools", "tool_choice", "thinking",
    "metadata", NULL
};


int
llmopt_xlate_an_to_oa(llmopt_xlate_req_t *r)
{
    int                  rc, i, msgs, first;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;

    d = &r->d;
    out = r->out;

    rc = llmopt_xlate_keys(r, 0, llmopt_xlate_an_root, "");
    if (rc != LLMOPT_OK) {
        return rc;
    }

    msgs = llmopt_xlate_member(d, 0, "messages");
    if (llmopt_xlate_kind(d, msgs) != LLMOPT_JSON_ARRAY) {
        return llmopt_xlate_bad(r, "messages", "must be an array");
    }

    llmopt_xlate_lit(out, "{");

    i = llmopt_xlate_member(d, 0, "model");
    if (i >= 0) {
        llmopt_xlate_lit(out, "\"model\":");
        llmopt_xlate_raw(out, d, i);
        llmopt_xlate_lit(out, ",");
    }

    llmopt_xlate_lit(out, "\"messages\":[");
    first = 1;

    i = llmopt_xlate_member(d, 0, "system");
    if (i >= 0) {
        rc = llmopt_xlate_an_system(r, i, &first);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    rc = llmopt_xlate_an_messages(r, msgs, &first);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    llmopt_xlate_lit(out, "]");

    rc = llmopt_xlate_an_options(r, 0);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    rc = llmopt_xlate_an_tools(r, 0);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}


/* max_tokens, sampling, stop, stream, thinking and metadata */

static int
llmopt_xlate_an_options(llmopt_xlate_req_t *r, int root)
{
    int                  i, j, rc;
    int64_t              budget;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  meta_keys[] = { "user_id", NULL };
    static const char *const  think_keys[] = { "type", "budget_tokens",
                                               NULL };

    d = &r->d;
    out = r->out;

    llmopt_xlate_copy(out, d, root, "max_tokens", "max_completion_tokens");
    llmopt_xlate_copy(out, d, root, "temperature", "temperature");
    llmopt_xlate_copy(out, d, root, "top_p", "top_p");

    i = llmopt_xlate_member(d, root, "stop_sequences");
    if (i >= 0) {
        if (llmopt_xlate_kind(d, i) != LLMOPT_JSON_ARRAY) {
            return llmopt_xlate_bad(r, "stop_sequences", "must be an array");
        }

        llmopt_xlate_lit(out, ",\"stop\":");
        llmopt_xlate_raw(out, d, i);
    }

    /* the client's message_delta needs the usage: always ask for it */

    i = llmopt_xlate_copy(out, d, root, "stream", "stream");
    if (i >= 0) {
        r->x->stream = (d->buf[d->toks[i].start] == 't');

        if (r->x->stream) {
            llmopt_xlate_lit(out, ",\"stream_options\":"
                                  "{\"include_usage\":true}");
        }
    }

    i = llmopt_xlate_member(d, root, "thinking");
    if (i >= 0) {
        rc = llmopt_xlate_keys(r, i, think_keys, "thinking");
        if (rc != LLMOPT_OK) {
            return rc;
        }

        j = llmopt_xlate_member(d, i, "type");

        if (llmopt_xlate_is(d, j, "enabled")) {
            j = llmopt_xlate_member(d, i, "budget_tokens");
            if (j < 0
                || llmopt_json_int(d->buf, &d->toks[j], &budget) != LLMOPT_OK)
            {
                return llmopt_xlate_bad(r, "thinking",
                                        "needs budget_tokens");
            }

            if (budget < LLMOPT_XLATE_BUDGET_MEDIUM) {
                llmopt_xlate_lit(out, ",\"reasoning_effort\":\"low\"");

            } else if (budget < LLMOPT_XLATE_BUDGET_HIGH) {
                llmopt_xlate_lit(out, ",\"reasoning_effort\":\"medium\"");

            } else {
                llmopt_xlate_lit(out, ",\"reasoning_effort\":\"high\"");
            }

        } else if (!llmopt_xlate_is(d, j, "disabled")) {
            rc = llmopt_xlate_refuse(r, "thinking.type");
            if (rc == LLMOPT_ERROR) {
                return rc;
            }
        }
    }

    i = llmopt_xlate_member(d, root, "metadata");
    if (i >= 0) {
        rc = llmopt_xlate_keys(r, i, meta_keys, "metadata");
        if (rc != LLMOPT_OK) {
            return rc;
        }

        j = llmopt_xlate_member(d, i, "user_id");
        if (j >= 0) {
            llmopt_xlate_lit(out, ",\"user\":");
            llmopt_xlate_raw(out, d, j);
        }
    }

    return LLMOPT_OK;
}


/* the top-level system as the first message */

static int
llmopt_xlate_an_system(llmopt_xlate_req_t *r, int system, int *first)
{
    int  rc, bfirst;

    llmopt_xlate_sep(r->out, first);
    llmopt_xlate_lit(r->out, "{\"role\":\"system\",\"content\":");

    if (llmopt_xlate_kind(&r->d, system) == LLMOPT_JSON_STRING) {
        llmopt_xlate_raw(r->out, &r->d, system);

    } else {
        llmopt_xlate_lit(r->out, "[");
        bfirst = 1;
        rc = llmopt_xlate_parts_text(r, system, "system", &bfirst);
        if (rc != LLMOPT_OK) {
            return rc;
        }
        llmopt_xlate_lit(r->out, "]");
    }

    llmopt_xlate_lit(r->out, "}");

    return LLMOPT_OK;
}


static int
llmopt_xlate_an_messages(llmopt_xlate_req_t *r, int msgs, int *first)
{
    int                  i, k, n, role, content, rc;
    char                 path[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  msg_keys[] = { "role", "content", NULL };

    d = &r->d;
    out = r->out;
    n = d->toks[msgs].size;

    for (k = 0, i = msgs + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        llmopt_xlate_path(path, "messages[%d]", k);

        rc = llmopt_xlate_keys(r, i, msg_keys, path);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        role = llmopt_xlate_member(d, i, "role");
        content = llmopt_xlate_member(d, i, "content");

        if (llmopt_xlate_kind(d, content) != LLMOPT_JSON_STRING
            && llmopt_xlate_kind(d, content) != LLMOPT_JSON_ARRAY)
        {
            return llmopt_xlate_bad(r, path, "needs content");
        }

        if (llmopt_xlate_is(d, role, "user")) {
            rc = llmopt_xlate_an_user(r, content, path, first);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            continue;
        }

        if (!llmopt_xlate_is(d, role, "assistant")) {
            return llmopt_xlate_bad(r, path, "has a role that is neither "
                                    "\"user\" nor \"assistant\"");
        }

        llmopt_xlate_sep(out, first);
        rc = llmopt_xlate_an_assistant(r, content, path);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    return LLMOPT_OK;
}


/*
 * A user turn: its tool results first, each a "tool" message (OpenAI wants
 * them right after the assistant's calls), then the rest as one message.
 */

static int
llmopt_xlate_an_user(llmopt_xlate_req_t *r, int content, const char *path,
    int *first)
{
    int                  j, q, m, rest, bfirst, rc;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;

    d = &r->d;
    out = r->out;

    if (llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING) {
        llmopt_xlate_sep(out, first);
        llmopt_xlate_lit(out, "{\"role\":\"user\",\"content\":");
        llmopt_xlate_raw(out, d, content);
        llmopt_xlate_lit(out, "}");
        return LLMOPT_OK;
    }

    m = d->toks[content].size;
    rest = 0;

    for (j = 0, q = content + 1; j < m; j++, q = llmopt_xlate_next(d, q)) {
        llmopt_xlate_path(sub, "%s.content[%d]", path, j);

        if (!llmopt_xlate_is(d, llmopt_xlate_member(d, q, "type"),
                             "tool_result"))
        {
            rest++;
            continue;
        }

        rc = llmopt_xlate_an_tool_result(r, q, sub, first);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    if (rest == 0) {
        return LLMOPT_OK;
    }

    llmopt_xlate_sep(out, first);
    llmopt_xlate_lit(out, "{\"role\":\"user\",\"content\":[");
    bfirst = 1;

    for (j = 0, q = content + 1; j < m; j++, q = llmopt_xlate_next(d, q)) {
        if (llmopt_xlate_is(d, llmopt_xlate_member(d, q, "type"),
                            "tool_result"))
        {
            continue;
        }

        llmopt_xlate_path(sub, "%s.content[%d]", path, j);
        llmopt_xlate_sep(out, &bfirst);

        rc = llmopt_xlate_an_block(r, q, sub);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    llmopt_xlate_lit(out, "]}");

    return LLMOPT_OK;
}


static int
llmopt_xlate_an_tool_result(llmopt_xlate_req_t *r, int block,
    const char *path, int *first)
{
    int                  id, content, err, bfirst, rc;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  keys[] = { "type", "tool_use_id", "content",
                                         "is_error", NULL };

    d = &r->d;
    out = r->out;

    rc = llmopt_xlate_keys(r, block, keys, path);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    err = llmopt_xlate_member(d, block, "is_error");
    if (err >= 0 && d->buf[d->toks[err].start] == 't') {
        rc = llmopt_xlate_refuse(r, "%s.is_error", path);
        if (rc == LLMOPT_ERROR) {
            return rc;
        }
    }

    id = llmopt_xlate_member(d, block, "tool_use_id");
    if (llmopt_xlate_kind(d, id) != LLMOPT_JSON_STRING) {
        return llmopt_xlate_bad(r, path, "needs a tool_use_id");
    }

    llmopt_xlate_sep(out, first);
    llmopt_xlate_lit(out, "{\"role\":\"tool\",\"tool_call_id\":");
    llmopt_xlate_raw(out, d, id);
    llmopt_xlate_lit(out, ",\"content\":");

    content = llmopt_xlate_member(d, block, "content");

    if (content < 0) {
        llmopt_xlate_lit(out, "\"\"");

    } else if (llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING) {
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

    return LLMOPT_OK;
}


/* a user block: text, image or PDF document */

static int
llmopt_xlate_an_block(llmopt_xlate_req_t *r, int block, const char *path)
{
    int                  type, v, src, rc;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  image_keys[] = { "type", "source", NULL };
    static const char *const  doc_keys[] = { "type", "source", "title", NULL };
    static const char *const  b64_keys[] = { "type", "media_type", "data",
                                             NULL };
    static const char *const  url_keys[] = { "type", "url", NULL };

    d = &r->d;
    out = r->out;
    type = llmopt_xlate_member(d, block, "type");

    if (llmopt_xlate_is(d, type, "text")) {
        return llmopt_xlate_text_block(r, block, path);
    }

    if (!llmopt_xlate_is(d, type, "image") && !llmopt_xlate_is(d, type,
                                                              "document"))
    {
        rc = llmopt_xlate_refuse(r, "%s.type", path);
        if (rc == LLMOPT_DECLINED) {
            llmopt_xlate_lit(out, "{\"type\":\"text\",\"text\":\"\"}");
            return LLMOPT_OK;
        }

        return rc;
    }

    rc = llmopt_xlate_keys(r, block, llmopt_xlate_is(d, type, "image")
                                     ? image_keys : doc_keys, path);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    llmopt_xlate_path(sub, "%s.source", path);
    src = llmopt_xlate_member(d, block, "source");
    v = llmopt_xlate_member(d, src, "type");

    if (llmopt_xlate_is(d, v, "url") && llmopt_xlate_is(d, type, "image")) {
        rc = llmopt_xlate_keys(r, src, url_keys, sub);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        v = llmopt_xlate_member(d, src, "url");
        if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
            return llmopt_xlate_bad(r, sub, "needs a url");
        }

        llmopt_xlate_lit(out, "{\"type\":\"image_url\",\"image_url\":"
                              "{\"url\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_lit(out, "}}");
        return LLMOPT_OK;
    }

    if (!llmopt_xlate_is(d, v, "base64")) {
        rc = llmopt_xlate_refuse(r, "%s.type", sub);
        if (rc == LLMOPT_DECLINED) {
            llmopt_xlate_lit(out, "{\"type\":\"text\",\"text\":\"\"}");
            return LLMOPT_OK;
        }

        return rc;
    }

    rc = llmopt_xlate_keys(r, src, b64_keys, sub);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    v = llmopt_xlate_member(d, src, "media_type");
    rc = llmopt_xlate_member(d, src, "data");

    if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING
        || llmopt_xlate_kind(d, rc) != LLMOPT_JSON_STRING)
    {
        return llmopt_xlate_bad(r, sub, "needs media_type and data");
    }

    if (llmopt_xlate_is(d, type, "image")) {
        llmopt_xlate_lit(out, "{\"type\":\"image_url\",\"image_url\":"
                              "{\"url\":\"data:");

    } else {
        llmopt_xlate_lit(out, "{\"type\":\"file\",\"file\":{");

        src = llmopt_xlate_member(d, block, "title");
        if (src >= 0) {
            llmopt_xlate_lit(out, "\"filename\":");
            llmopt_xlate_raw(out, d, src);
            llmopt_xlate_lit(out, ",");
        }

        llmopt_xlate_lit(out, "\"file_data\":\"data:");
    }

    llmopt_xlate_put(out, d->buf + d->toks[v].start,
                     (size_t) (d->toks[v].end - d->toks[v].start));
    llmopt_xlate_lit(out, ";base64,");
    llmopt_xlate_put(out, d->buf + d->toks[rc].start,
                     (size_t) (d->toks[rc].end - d->toks[rc].start));
    llmopt_xlate_lit(out, "\"}}");

    return LLMOPT_OK;
}


/*
 * An assistant turn: one text block is the content string, several a text
 * part array, none null; tool_use blocks are tool_calls, the input JSON
 * quoted as the arguments string.
 */

static int
llmopt_xlate_an_assistant(llmopt_xlate_req_t *r, int content,
    const char *path)
{
    int                  j, q, m, type, ntext, ntool, text, first, rc;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  text_keys[] = { "type", "text", NULL };
    static const char *const  tool_keys[] = { "type", "id", "name", "input",
                                              NULL };

    d = &r->d;
    out = r->out;

    llmopt_xlate_lit(out, "{\"role\":\"assistant\",\"content\":");

    if (llmopt_xlate_kind(d, content) == LLMOPT_JSON_STRING) {
        llmopt_xlate_raw(out, d, content);
        llmopt_xlate_lit(out, "}");
        return LLMOPT_OK;
    }

    m = d->toks[content].size;
    ntext = 0;
    ntool = 0;
    text = -1;

    for (j = 0, q = content + 1; j < m; j++, q = llmopt_xlate_next(d, q)) {
        llmopt_xlate_path(sub, "%s.content[%d]", path, j);
        type = llmopt_xlate_member(d, q, "type");

        if (llmopt_xlate_is(d, type, "text")) {
            rc = llmopt_xlate_keys(r, q, text_keys, sub);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            text = llmopt_xlate_member(d, q, "text");
            if (llmopt_xlate_kind(d, text) != LLMOPT_JSON_STRING) {
                return llmopt_xlate_bad(r, sub, "needs a \"text\" string");
            }

            ntext++;

        } else if (llmopt_xlate_is(d, type, "tool_use")) {
            rc = llmopt_xlate_keys(r, q, tool_keys, sub);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            if (llmopt_xlate_kind(d, llmopt_xlate_member(d, q, "id"))
                != LLMOPT_JSON_STRING
                || llmopt_xlate_kind(d, llmopt_xlate_member(d, q, "name"))
                   != LLMOPT_JSON_STRING
                || llmopt_xlate_kind(d, llmopt_xlate_member(d, q, "input"))
                   != LLMOPT_JSON_OBJECT)
            {
                return llmopt_xlate_bad(r, sub, "needs an id, a name and an "
                                        "input object");
            }

            ntool++;

        } else {
            rc = llmopt_xlate_refuse(r, "%s.type", sub);
            if (rc == LLMOPT_ERROR) {
                return rc;
            }
        }
    }

    if (ntext == 0) {
        llmopt_xlate_lit(out, "null");

    } else if (ntext == 1) {
        llmopt_xlate_raw(out, d, text);

    } else {
        llmopt_xlate_lit(out, "[");
        first = 1;

        for (j = 0, q = content + 1; j < m; j++, q = llmopt_xlate_next(d, q)) {
            if (llmopt_xlate_is(d, llmopt_xlate_member(d, q, "type"), "text"))
            {
                llmopt_xlate_sep(out, &first);
                llmopt_xlate_lit(out, "{\"type\":\"text\",\"text\":");
                llmopt_xlate_raw(out, d, llmopt_xlate_member(d, q, "text"));
                llmopt_xlate_lit(out, "}");
            }
        }

        llmopt_xlate_lit(out, "]");
    }

    if (ntool > 0) {
        llmopt_xlate_lit(out, ",\"tool_calls\":[");
        first = 1;

        for (j = 0, q = content + 1; j < m; j++, q = llmopt_xlate_next(d, q)) {
            if (!llmopt_xlate_is(d, llmopt_xlate_member(d, q, "type"),
                                 "tool_use"))
            {
                continue;
            }

            llmopt_xlate_sep(out, &first);
            llmopt_xlate_tool_call(out, d, q);
        }

        llmopt_xlate_lit(out, "]");
    }

    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}


/* tools and tool_choice */

static int
llmopt_xlate_an_tools(llmopt_xlate_req_t *r, int root)
{
    int                  tools, i, k, n, v, tc, first, rc;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  tool_keys[] = { "type", "name", "description",
                                              "input_schema", NULL };
    static const char *const  tc_keys[] = { "type", "name",
                                            "disable_parallel_tool_use",
                                            NULL };

    d = &r->d;
    out = r->out;
    tools = llmopt_xlate_member(d, root, "tools");

    if (tools >= 0) {
        if (llmopt_xlate_kind(d, tools) != LLMOPT_JSON_ARRAY) {
            return llmopt_xlate_bad(r, "tools", "must be an array");
        }

        llmopt_xlate_lit(out, ",\"tools\":[");
        n = d->toks[tools].size;
        first = 1;

        for (k = 0, i = tools + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
            llmopt_xlate_path(sub, "tools[%d]", k);

            rc = llmopt_xlate_keys(r, i, tool_keys, sub);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            /* server tools (web search, code execution...) stay behind */

            v = llmopt_xlate_member(d, i, "type");
            if (v >= 0 && !llmopt_xlate_is(d, v, "custom")) {
                rc = llmopt_xlate_refuse(r, "%s.type", sub);
                if (rc == LLMOPT_ERROR) {
                    return rc;
                }

                continue;
            }

            v = llmopt_xlate_member(d, i, "name");
            if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
                return llmopt_xlate_bad(r, sub, "needs a name");
            }

            llmopt_xlate_sep(out, &first);
            llmopt_xlate_lit(out, "{\"type\":\"function\",\"function\":"
                                  "{\"name\":");
            llmopt_xlate_raw(out, d, v);

            v = llmopt_xlate_member(d, i, "description");
            if (v >= 0) {
                llmopt_xlate_lit(out, ",\"description\":");
                llmopt_xlate_raw(out, d, v);
            }

            v = llmopt_xlate_member(d, i, "input_schema");
            if (v >= 0) {
                llmopt_xlate_lit(out, ",\"parameters\":");
                llmopt_xlate_raw(out, d, v);
            }

            llmopt_xlate_lit(out, "}}");
        }

        llmopt_xlate_lit(out, "]");
    }

    tc = llmopt_xlate_member(d, root, "tool_choice");
    if (tc < 0) {
        return LLMOPT_OK;
    }

    rc = llmopt_xlate_keys(r, tc, tc_keys, "tool_choice");
    if (rc != LLMOPT_OK) {
        return rc;
    }

    v = llmopt_xlate_member(d, tc, "type");

    if (llmopt_xlate_is(d, v, "auto")) {
        llmopt_xlate_lit(out, ",\"tool_choice\":\"auto\"");

    } else if (llmopt_xlate_is(d, v, "any")) {
        llmopt_xlate_lit(out, ",\"tool_choice\":\"required\"");

    } else if (llmopt_xlate_is(d, v, "none")) {
        llmopt_xlate_lit(out, ",\"tool_choice\":\"none\"");

    } else if (llmopt_xlate_is(d, v, "tool")
               && llmopt_xlate_kind(d, llmopt_xlate_member(d, tc, "name"))
                  == LLMOPT_JSON_STRING)
    {
        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"function\","
                              "\"function\":{\"name\":");
        llmopt_xlate_raw(out, d, llmopt_xlate_member(d, tc, "name"));
        llmopt_xlate_lit(out, "}}");

    } else {
        return llmopt_xlate_bad(r, "tool_choice", "is not a tool choice");
    }

    v = llmopt_xlate_member(d, tc, "disable_parallel_tool_use");
    if (v >= 0 && d->buf[d->toks[v].start] == 't') {
        llmopt_xlate_lit(out, ",\"parallel_tool_calls\":false");
    }

    return LLMOPT_OK;
}

/*
 * Copyright (C) llmopt authors
 *
 * The options of a Responses API request for a chat-completions or an
 * Anthropic upstream: tools (flat function tools), tool_choice,
 * parallel_tool_calls, text.format (JSON output) and reasoning.
 */


#include <string.h>

#include "llmopt_translate_write.h"


static int llmopt_xlate_rs_format(llmopt_xlate_req_t *r, int *schema);
static int llmopt_xlate_rs_tools(llmopt_xlate_req_t *r, int schema);
static int llmopt_xlate_rs_choice(llmopt_xlate_req_t *r);
static int llmopt_xlate_rs_reasoning(llmopt_xlate_req_t *r);


int
llmopt_xlate_rs_options(llmopt_xlate_req_t *r)
{
    int  rc, schema;

    rc = llmopt_xlate_rs_format(r, &schema);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    rc = llmopt_xlate_rs_tools(r, schema);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    rc = llmopt_xlate_rs_choice(r);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    return llmopt_xlate_rs_reasoning(r);
}


/*
 * text.format: for chat, response_format; for Anthropic, the forced tool
 * of JSON output (x->json_tool), its schema in *schema (-1 for
 * json_object).
 */

static int
llmopt_xlate_rs_format(llmopt_xlate_req_t *r, int *schema)
{
    int                  text, fmt, type, v, rc;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  text_keys[] = { "format", NULL };
    static const char *const  fmt_keys[] = { "type", "name", "schema",
                                             "description", "strict", NULL };

    d = &r->d;
    out = r->out;
    *schema = -1;

    text = llmopt_xlate_member(d, 0, "text");
    if (text < 0) {
        return LLMOPT_OK;
    }

    rc = llmopt_xlate_keys(r, text, text_keys, "text");
    if (rc != LLMOPT_OK) {
        return rc;
    }

    fmt = llmopt_xlate_member(d, text, "format");
    if (fmt < 0) {
        return LLMOPT_OK;
    }

    rc = llmopt_xlate_keys(r, fmt, fmt_keys, "text.format");
    if (rc != LLMOPT_OK) {
        return rc;
    }

    type = llmopt_xlate_member(d, fmt, "type");

    if (llmopt_xlate_is(d, type, "text")) {
        return LLMOPT_OK;
    }

    if (llmopt_xlate_is(d, type, "json_object")) {
        if (r->x->upstream == LLMOPT_DIALECT_OPENAI) {
            llmopt_xlate_lit(out, ",\"response_format\":"
                                  "{\"type\":\"json_object\"}");
            return LLMOPT_OK;
        }

        memcpy(r->x->json_tool_name, "json_output", 11);
        r->x->json_tool_len = 11;
        r->x->json_tool = 1;
        return LLMOPT_OK;
    }

    if (!llmopt_xlate_is(d, type, "json_schema")) {
        rc = llmopt_xlate_refuse(r, "text.format.type");
        return (rc == LLMOPT_DECLINED) ? LLMOPT_OK : rc;
    }

    v = llmopt_xlate_member(d, fmt, "name");
    if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING
        || llmopt_json_unescape(NULL, d->buf, &d->toks[v])
           > LLMOPT_XLATE_NAME_MAX)
    {
        return llmopt_xlate_bad(r, "text.format", "needs a name of at most "
                                "128 bytes");
    }

    if (r->x->upstream == LLMOPT_DIALECT_OPENAI) {
        llmopt_xlate_lit(out, ",\"response_format\":{\"type\":\"json_schema\","
                              "\"json_schema\":{\"name\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_copy(out, d, fmt, "description", "description");
        llmopt_xlate_copy(out, d, fmt, "schema", "schema");
        llmopt_xlate_copy(out, d, fmt, "strict", "strict");
        llmopt_xlate_lit(out, "}}");
        return LLMOPT_OK;
    }

    r->x->json_tool_len = llmopt_json_unescape(
                              (unsigned char *) r->x->json_tool_name, d->buf,
                              &d->toks[v]);
    r->x->json_tool = 1;
    *schema = fmt;

    return LLMOPT_OK;
}


/*
 * Function tools {"type":"function","name","description","parameters",
 * "strict"}: nested under "function" for chat, with "input_schema" for
 * Anthropic (which has no strict mode), the JSON output tool last.
 */

static int
llmopt_xlate_rs_tools(llmopt_xlate_req_t *r, int schema)
{
    int                  tools, i, k, n, v, first, rc, an;
    char                 sub[LLMOPT_XLATE_PATH_MAX];
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  tool_keys[] = { "type", "name", "description",
                                              "parameters", "strict", NULL };

    d = &r->d;
    out = r->out;
    an = (r->x->upstream == LLMOPT_DIALECT_ANTHROPIC);
    tools = llmopt_xlate_member(d, 0, "tools");

    if (tools < 0 && !r->x->json_tool) {
        return LLMOPT_OK;
    }

    if (tools >= 0 && llmopt_xlate_kind(d, tools) != LLMOPT_JSON_ARRAY) {
        return llmopt_xlate_bad(r, "tools", "must be an array");
    }

    llmopt_xlate_lit(out, ",\"tools\":[");
    first = 1;
    n = (tools >= 0) ? d->toks[tools].size : 0;

    for (k = 0, i = tools + 1; k < n; k++, i = llmopt_xlate_next(d, i)) {
        llmopt_xlate_path(sub, "tools[%d]", k);

        if (!llmopt_xlate_is(d, llmopt_xlate_member(d, i, "type"),
                             "function"))
        {
            /* the hosted tools: web search, file search, computer use */

            rc = llmopt_xlate_refuse(r, "%s.type", sub);
            if (rc == LLMOPT_ERROR) {
                return rc;
            }

            continue;
        }

        rc = llmopt_xlate_keys(r, i, tool_keys, sub);
        if (rc != LLMOPT_OK) {
            return rc;
        }

        v = llmopt_xlate_member(d, i, "name");
        if (llmopt_xlate_kind(d, v) != LLMOPT_JSON_STRING) {
            return llmopt_xlate_bad(r, sub, "needs a name");
        }

        llmopt_xlate_sep(out, &first);

        if (!an) {
            llmopt_xlate_lit(out, "{\"type\":\"function\",\"function\":"
                                  "{\"name\":");
            llmopt_xlate_raw(out, d, v);
            llmopt_xlate_copy(out, d, i, "description", "description");
            llmopt_xlate_copy(out, d, i, "parameters", "parameters");
            llmopt_xlate_copy(out, d, i, "strict", "strict");
            llmopt_xlate_lit(out, "}}");
            continue;
        }

        llmopt_xlate_lit(out, "{\"name\":");
        llmopt_xlate_raw(out, d, v);
        llmopt_xlate_copy(out, d, i, "description", "description");
        llmopt_xlate_lit(out, ",\"input_schema\":");

        v = llmopt_xlate_member(d, i, "parameters");
        if (v >= 0) {
            llmopt_xlate_raw(out, d, v);

        } else {
            llmopt_xlate_lit(out, "{\"type\":\"object\",\"properties\":{}}");
        }

        llmopt_xlate_lit(out, "}");

        v = llmopt_xlate_member(d, i, "strict");
        if (v >= 0 && d->buf[d->toks[v].start] == 't') {
            rc = llmopt_xlate_refuse(r, "%s.strict", sub);
            if (rc == LLMOPT_ERROR) {
                return rc;
            }
        }
    }

    if (r->x->json_tool) {
        llmopt_xlate_sep(out, &first);
        llmopt_xlate_lit(out, "{\"name\":");
        llmopt_xlate_quote(out, r->x->json_tool_name, r->x->json_tool_len);
        llmopt_xlate_copy(out, d, schema, "description", "description");
        llmopt_xlate_lit(out, ",\"input_schema\":");

        v = llmopt_xlate_member(d, schema, "schema");
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


/*
 * tool_choice "auto" / "required" / "none" / {"type":"function","name"}
 * and parallel_tool_calls: copied for chat (the object nested), Anthropic's
 * auto / any / none / {"type":"tool","name"} and
 * disable_parallel_tool_use.
 */

static int
llmopt_xlate_rs_choice(llmopt_xlate_req_t *r)
{
    int                  tc, par, name, serial, rc;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  choice_keys[] = { "type", "name", NULL };

    d = &r->d;
    out = r->out;
    tc = llmopt_xlate_member(d, 0, "tool_choice");
    par = llmopt_xlate_member(d, 0, "parallel_tool_calls");
    serial = (par >= 0 && d->buf[d->toks[par].start] == 'f');
    name = -1;

    if (tc >= 0 && llmopt_xlate_kind(d, tc) == LLMOPT_JSON_OBJECT) {
        if (!llmopt_xlate_is(d, llmopt_xlate_member(d, tc, "type"),
                             "function"))
        {
            /* allowed_tools, hosted tools, custom tools */

            rc = llmopt_xlate_refuse(r, "tool_choice.type");
            if (rc == LLMOPT_ERROR) {
                return rc;
            }

            tc = -1;

        } else {
            rc = llmopt_xlate_keys(r, tc, choice_keys, "tool_choice");
            if (rc != LLMOPT_OK) {
                return rc;
            }

            name = llmopt_xlate_member(d, tc, "name");
            if (llmopt_xlate_kind(d, name) != LLMOPT_JSON_STRING) {
                return llmopt_xlate_bad(r, "tool_choice", "needs a name");
            }
        }

    } else if (tc >= 0 && !llmopt_xlate_is(d, tc, "auto")
               && !llmopt_xlate_is(d, tc, "required")
               && !llmopt_xlate_is(d, tc, "none"))
    {
        return llmopt_xlate_bad(r, "tool_choice", "is not a tool choice");
    }

    if (r->x->upstream == LLMOPT_DIALECT_OPENAI) {
        if (name >= 0) {
            llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"function\","
                                  "\"function\":{\"name\":");
            llmopt_xlate_raw(out, d, name);
            llmopt_xlate_lit(out, "}}");

        } else if (tc >= 0) {
            llmopt_xlate_lit(out, ",\"tool_choice\":");
            llmopt_xlate_raw(out, d, tc);
        }

        llmopt_xlate_copy(out, d, 0, "parallel_tool_calls",
                          "parallel_tool_calls");
        return LLMOPT_OK;
    }

    if (r->x->json_tool) {
        if (tc >= 0) {
            rc = llmopt_xlate_refuse(r, "tool_choice");
            if (rc == LLMOPT_ERROR) {
                return rc;
            }
        }

        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"tool\",\"name\":");
        llmopt_xlate_quote(out, r->x->json_tool_name, r->x->json_tool_len);

    } else if (name >= 0) {
        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"tool\",\"name\":");
        llmopt_xlate_raw(out, d, name);

    } else if (llmopt_xlate_is(d, tc, "required")) {
        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"any\"");

    } else if (llmopt_xlate_is(d, tc, "none")) {
        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"none\"");

    } else if (tc >= 0 || serial) {
        llmopt_xlate_lit(out, ",\"tool_choice\":{\"type\":\"auto\"");

    } else {
        return LLMOPT_OK;
    }

    if (serial) {
        llmopt_xlate_lit(out, ",\"disable_parallel_tool_use\":true");
    }

    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}


/*
 * reasoning.effort: chat's reasoning_effort, or Anthropic's thinking
 * budget (the table of llmopt_translate_req_openai.c); reasoning.summary
 * has no chat counterpart, and Anthropic's thinking is a summary already.
 */

static int
llmopt_xlate_rs_reasoning(llmopt_xlate_req_t *r)
{
    int                  reasoning, effort, rc;
    int64_t              budget;
    llmopt_xlate_doc_t  *d;
    llmopt_xlate_out_t  *out;
    static const char *const  keys[] = { "effort", "summary", NULL };

    d = &r->d;
    out = r->out;

    reasoning = llmopt_xlate_member(d, 0, "reasoning");
    if (reasoning < 0) {
        return LLMOPT_OK;
    }

    rc = llmopt_xlate_keys(r, reasoning, keys, "reasoning");
    if (rc != LLMOPT_OK) {
        return rc;
    }

    effort = llmopt_xlate_member(d, reasoning, "effort");

    if (r->x->upstream == LLMOPT_DIALECT_OPENAI) {
        if (llmopt_xlate_member(d, reasoning, "summary") >= 0) {
            rc = llmopt_xlate_refuse(r, "reasoning.summary");
            if (rc == LLMOPT_ERROR) {
                return rc;
            }
        }

        llmopt_xlate_copy(out, d, reasoning, "effort", "reasoning_effort");
        return LLMOPT_OK;
    }

    if (effort < 0 || llmopt_xlate_is(d, effort, "none")) {
        return LLMOPT_OK;
    }

    if (llmopt_xlate_is(d, effort, "minimal")
        || llmopt_xlate_is(d, effort, "low"))
    {
        budget = LLMOPT_XLATE_BUDGET_LOW;

    } else if (llmopt_xlate_is(d, effort, "medium")) {
        budget = LLMOPT_XLATE_BUDGET_MEDIUM;

    } else if (llmopt_xlate_is(d, effort, "high")) {
        budget = LLMOPT_XLATE_BUDGET_HIGH;

    } else {
        rc = llmopt_xlate_refuse(r, "reasoning.effort");
        return (rc == LLMOPT_DECLINED) ? LLMOPT_OK : rc;
    }

    llmopt_xlate_lit(out, ",\"thinking\":{\"type\":\"enabled\","
                          "\"budget_tokens\":");
    llmopt_xlate_int(out, budget);
    llmopt_xlate_lit(out, "}");

    return LLMOPT_OK;
}

/*
 * Copyright (C) llmopt authors
 *
 * A chat request body, read: the strict parse and validation of its
 * root, messages (a Responses request's input: llmopt_request_responses.c)
 * and counts, and lookups of root members.  The prompt scan behind the
 * features is llmopt_request_scan.c, rewriting the body llmopt_rewrite.c.
 */


#include <stdio.h>
#include <string.h>

#include "llmopt_request_walk.h"
#include "llmopt_request_scan.h"


static int llmopt_request_root_member(llmopt_request_walk_t *w,
    unsigned key, unsigned value);
static int llmopt_request_messages(llmopt_request_walk_t *w, unsigned value);
static int llmopt_request_message(llmopt_request_walk_t *w, unsigned msg,
    unsigned index);


static const llmopt_request_name_t  llmopt_request_root_names[] = {
    llmopt_request_name("model", LLMOPT_REQ_KEY_MODEL),
    llmopt_request_name("messages", LLMOPT_REQ_KEY_MESSAGES),
    llmopt_request_name("stream", LLMOPT_REQ_KEY_STREAM),
    llmopt_request_name("max_tokens", LLMOPT_REQ_KEY_MAX_TOKENS),
    llmopt_request_name("max_completion_tokens",
                        LLMOPT_REQ_KEY_MAX_COMPLETION_TOKENS),
    llmopt_request_name("temperature", LLMOPT_REQ_KEY_TEMPERATURE),
    llmopt_request_name("top_p", LLMOPT_REQ_KEY_TOP_P),
    llmopt_request_name("tools", LLMOPT_REQ_KEY_TOOLS),
    llmopt_request_name("response_format", LLMOPT_REQ_KEY_RESPONSE_FORMAT),
    llmopt_request_name("stream_options", LLMOPT_REQ_KEY_STREAM_OPTIONS),
    llmopt_request_name("system", LLMOPT_REQ_KEY_SYSTEM),
    llmopt_request_name("input", LLMOPT_REQ_KEY_INPUT),
    llmopt_request_name("instructions", LLMOPT_REQ_KEY_INSTRUCTIONS),
    llmopt_request_name("max_output_tokens",
                        LLMOPT_REQ_KEY_MAX_OUTPUT_TOKENS),
    llmopt_request_name("text", LLMOPT_REQ_KEY_TEXT_OPTIONS)
};


const llmopt_request_name_t  llmopt_request_message_names[] = {
    llmopt_request_name("role", LLMOPT_REQ_KEY_ROLE),
    llmopt_request_name("content", LLMOPT_REQ_KEY_CONTENT),
    llmopt_request_name("output", LLMOPT_REQ_KEY_OUTPUT)
};


static const llmopt_request_name_t  llmopt_request_part_names[] = {
    llmopt_request_name("text", LLMOPT_REQ_KEY_TEXT),
    llmopt_request_name("content", LLMOPT_REQ_KEY_CONTENT)
};


int
llmopt_request_parse(llmopt_request_t *req, llmopt_dialect_e dialect,
    const unsigned char *body, size_t len, llmopt_json_tok_t *toks,
    unsigned ntoks, unsigned max_depth, llmopt_err_t *err)
{
    int                     rc;
    unsigned                i, k, used, next;
    llmopt_err_t            scratch;
    llmopt_request_walk_t   w;

    if (err == NULL) {
        err = &scratch;
    }

    memset(req, 0, sizeof(llmopt_request_t));

    req->dialect = dialect;
    req->body = body;
    req->len = len;
    req->max_tokens = -1;

    rc = llmopt_json_parse(body, len, toks, ntoks, max_depth, &used, err);

    if (rc == LLMOPT_AGAIN) {
        req->tokens_needed = used;
        return LLMOPT_AGAIN;
    }

    if (rc != LLMOPT_OK) {
        return rc;
    }

    req->toks = toks;
    req->ntoks = used;

    memset(&w, 0, sizeof(llmopt_request_walk_t));
    w.req = req;
    w.body = body;
    w.toks = toks;
    w.ntoks = used;
    w.err = err;
    w.max_tokens = -1;
    w.max_completion_tokens = -1;

    i = 1;

    for (k = 0; k < (unsigned) toks[0].size; k++) {
        next = llmopt_json_skip(toks, used, i + 1);

        if (llmopt_request_root_member(&w, i, i + 1) != LLMOPT_OK) {
            return LLMOPT_ERROR;
        }

        i = next;
    }

    if (req->n_messages == 0) {
        llmopt_err_set(err, 400, (size_t) toks[0].start,
                       dialect == LLMOPT_DIALECT_RESPONSES
                       ? "'input' is a required property"
                       : "'messages' is a required property");
        err->type = "invalid_request_error";
        return LLMOPT_ERROR;
    }

    /* the Responses API has both: "instructions" and system items */

    req->system_bytes = w.system_message_bytes + w.system_top_bytes;

    if (dialect == LLMOPT_DIALECT_ANTHROPIC) {
        req->system_bytes = w.system_top_bytes;

    } else if (dialect == LLMOPT_DIALECT_OPENAI) {
        req->system_bytes = w.system_message_bytes;
    }

    /* max_completion_tokens supersedes max_tokens in the OpenAI API */

    req->max_tokens = (w.max_completion_tokens >= 0)
                      ? w.max_completion_tokens : w.max_tokens;

    req->text_bytes = w.message_bytes + w.system_top_bytes + w.tools_bytes;

    /* has_code; the words only when a feature asks for them */

    req->has_code = llmopt_request_has_code(req->body, req->prompt.start,
                                            req->prompt.end);

    return LLMOPT_OK;
}


int
llmopt_request_match(llmopt_request_walk_t *w, unsigned key,
    const llmopt_request_name_t *names, unsigned n)
{
    size_t                    len;
    unsigned                  i;
    const llmopt_json_tok_t  *tok;

    tok = &w->toks[key];
    len = (size_t) (tok->end - tok->start);

    for (i = 0; i < n; i++) {
        if (names[i].len == len
            && memcmp(w->body + tok->start, names[i].name, len) == 0)
        {
            return (int) names[i].id;
        }
    }

    /* an escaped key is longer than its name; rare, decode it */

    if (memchr(w->body + tok->start, '\\', len) == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (llmopt_json_str_eq(w->body, tok, names[i].name, names[i].len)) {
            return (int) names[i].id;
        }
    }

    return -1;
}


static int
llmopt_request_root_member(llmopt_request_walk_t *w, unsigned key,
    unsigned value)
{
    int                       id, member;
    int64_t                   count;
    llmopt_request_t         *req;
    const llmopt_json_tok_t  *tok;

    req = w->req;
    tok = &w->toks[value];

    id = llmopt_request_match(w, key, llmopt_request_root_names,
                              llmopt_request_nelts(llmopt_request_root_names));

    switch (id) {

    case LLMOPT_REQ_KEY_MODEL:
        req->model.start = 0;
        req->model.end = 0;

        if (llmopt_request_optional(w, value, "model", LLMOPT_JSON_STRING,
                                    "a string")
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        if (tok->type == JSMN_STRING) {
            llmopt_json_value_span(tok, &req->model.start, &req->model.end);
        }

        return LLMOPT_OK;

    case LLMOPT_REQ_KEY_MESSAGES:
        if (w->req->dialect == LLMOPT_DIALECT_RESPONSES) {
            return LLMOPT_OK;
        }

        return llmopt_request_messages(w, value);

    case LLMOPT_REQ_KEY_INPUT:
        if (w->req->dialect != LLMOPT_DIALECT_RESPONSES) {
            return LLMOPT_OK;
        }

        return llmopt_request_input(w, value);

    case LLMOPT_REQ_KEY_INSTRUCTIONS:
        if (w->req->dialect != LLMOPT_DIALECT_RESPONSES) {
            return LLMOPT_OK;
        }

        w->system_top_bytes = 0;
        w->req->system.start = 0;
        w->req->system.end = 0;

        if (llmopt_request_optional(w, value, "instructions",
                                    LLMOPT_JSON_STRING, "a string")
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        if (tok->type != JSMN_STRING) {
            return LLMOPT_OK;
        }

        return llmopt_request_text(w, value, "instructions", -1,
                                   &w->system_top_bytes, &w->req->system);

    case LLMOPT_REQ_KEY_MAX_OUTPUT_TOKENS:
        if (w->req->dialect != LLMOPT_DIALECT_RESPONSES) {
            return LLMOPT_OK;
        }

        if (llmopt_request_count(w, value, "max_output_tokens", &count)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        w->max_tokens = count;
        return LLMOPT_OK;

    case LLMOPT_REQ_KEY_TEXT_OPTIONS:
        if (w->req->dialect != LLMOPT_DIALECT_RESPONSES) {
            return LLMOPT_OK;
        }

        return llmopt_request_text_format(w, value);

    case LLMOPT_REQ_KEY_STREAM:
        if (llmopt_request_optional(w, value, "stream", LLMOPT_JSON_BOOLEAN,
                                    "a boolean")
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        req->stream = (w->body[tok->start] == 't');
        return LLMOPT_OK;

    case LLMOPT_REQ_KEY_MAX_TOKENS:
        if (w->req->dialect == LLMOPT_DIALECT_RESPONSES) {
            return LLMOPT_OK;
        }

        if (llmopt_request_count(w, value, "max_tokens", &count)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        w->max_tokens = count;
        return LLMOPT_OK;

    case LLMOPT_REQ_KEY_MAX_COMPLETION_TOKENS:
        if (w->req->dialect != LLMOPT_DIALECT_OPENAI) {
            return LLMOPT_OK;
        }

        if (llmopt_request_count(w, value, "max_completion_tokens", &count)
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        w->max_completion_tokens = count;
        return LLMOPT_OK;

    case LLMOPT_REQ_KEY_TEMPERATURE:
        return llmopt_request_optional(w, value, "temperature",
                                       LLMOPT_JSON_NUMBER, "a number");

    case LLMOPT_REQ_KEY_TOP_P:
        return llmopt_request_optional(w, value, "top_p",
                                       LLMOPT_JSON_NUMBER, "a number");

    case LLMOPT_REQ_KEY_TOOLS:
        if (llmopt_request_optional(w, value, "tools", LLMOPT_JSON_ARRAY,
                                    "an array")
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        /* tool definitions reach the model as text: count their JSON */

        req->has_tools = (tok->type == JSMN_ARRAY && tok->size > 0);
        w->tools_bytes = req->has_tools ? (size_t) (tok->end - tok->start)
                                        : 0;
        return LLMOPT_OK;

    case LLMOPT_REQ_KEY_RESPONSE_FORMAT:
        if (w->req->dialect != LLMOPT_DIALECT_OPENAI) {
            return LLMOPT_OK;
        }

        if (llmopt_request_optional(w, value, "response_format",
                                    LLMOPT_JSON_OBJECT, "an object")
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        req->json_format = 0;

        if (tok->type != JSMN_OBJECT) {
            return LLMOPT_OK;
        }

        member = llmopt_json_member(w->body, w->toks, w->ntoks, value,
                                    "type", 4);

        if (member > 0 && w->toks[member].type == JSMN_STRING
            && (llmopt_json_str_eq(w->body, &w->toks[member],
                                   "json_object", 11)
                || llmopt_json_str_eq(w->body, &w->toks[member],
                                      "json_schema", 11)))
        {
            req->json_format = 1;
        }

        return LLMOPT_OK;

    case LLMOPT_REQ_KEY_STREAM_OPTIONS:
        if (w->req->dialect != LLMOPT_DIALECT_OPENAI) {
            return LLMOPT_OK;
        }

        if (llmopt_request_optional(w, value, "stream_options",
                                    LLMOPT_JSON_OBJECT, "an object")
            != LLMOPT_OK)
        {
            return LLMOPT_ERROR;
        }

        req->has_stream_options = (tok->type == JSMN_OBJECT);
        req->include_usage = 0;

        if (tok->type != JSMN_OBJECT) {
            return LLMOPT_OK;
        }

        member = llmopt_json_member(w->body, w->toks, w->ntoks, value,
                                    "include_usage", 13);

        req->include_usage = (member > 0
                              && w->toks[member].type == JSMN_PRIMITIVE
                              && w->body[w->toks[member].start] == 't');
        return LLMOPT_OK;

    case LLMOPT_REQ_KEY_SYSTEM:
        if (w->req->dialect != LLMOPT_DIALECT_ANTHROPIC) {
            return LLMOPT_OK;
        }

        w->system_top_bytes = 0;
        w->req->system.start = 0;
        w->req->system.end = 0;

        if (tok->type == JSMN_PRIMITIVE && w->body[tok->start] == 'n') {
            return LLMOPT_OK;
        }

        if (tok->type != JSMN_STRING && tok->type != JSMN_ARRAY) {
            return llmopt_request_type_error(w, value, "system",
                                             "a string or an array");
        }

        return llmopt_request_text(w, value, "system", -1,
                                   &w->system_top_bytes,
                                   &w->req->system);

    default:
        return LLMOPT_OK;
    }
}


static int
llmopt_request_messages(llmopt_request_walk_t *w, unsigned value)
{
    unsigned                  i, k, next;
    size_t                    start, end;
    const llmopt_json_tok_t  *tok;

    tok = &w->toks[value];

    if (tok->type != JSMN_ARRAY) {
        return llmopt_request_type_error(w, value, "messages", "an array");
    }

    if (tok->size == 0) {
        llmopt_json_value_span(tok, &start, &end);
        llmopt_err_set(w->err, 400, start,
                       "Invalid 'messages': empty array. Expected an array "
                       "with minimum length 1, but got an empty array "
                       "instead.");
        w->err->type = "invalid_request_error";
        return LLMOPT_ERROR;
    }

    /* a repeated "messages" replaces the earlier one, as in the upstream */

    w->req->n_messages = 0;
    w->req->prompt.start = 0;
    w->req->prompt.end = 0;
    w->message_bytes = 0;
    w->system_message_bytes = 0;

    if (w->req->dialect == LLMOPT_DIALECT_OPENAI) {
        w->req->system.start = 0;
        w->req->system.end = 0;
    }

    i = value + 1;

    for (k = 0; k < (unsigned) tok->size; k++) {
        next = llmopt_json_skip(w->toks, w->ntoks, i);

        if (llmopt_request_message(w, i, k) != LLMOPT_OK) {
            return LLMOPT_ERROR;
        }

        i = next;
    }

    w->req->n_messages = (unsigned) tok->size;

    return LLMOPT_OK;
}


static int
llmopt_request_message(llmopt_request_walk_t *w, unsigned msg,
    unsigned index)
{
    int                       role, content;
    char                      field[48];
    size_t                    bytes, start;
    unsigned                  i, k;
    llmopt_span_t             longest;
    const llmopt_json_tok_t  *tok;

    tok = &w->toks[msg];

    if (tok->type != JSMN_OBJECT) {
        (void) snprintf(field, sizeof(field), "messages[%u]", index);
        return llmopt_request_type_error(w, msg, field, "an object");
    }

    role = -1;
    content = -1;
    i = msg + 1;

    for (k = 0; k < (unsigned) tok->size; k++) {
        switch (llmopt_request_match(w, i, llmopt_request_message_names,
                    llmopt_request_nelts(llmopt_request_message_names)))
        {
        case LLMOPT_REQ_KEY_ROLE:
            role = (int) i + 1;
            break;
        case LLMOPT_REQ_KEY_CONTENT:
            content = (int) i + 1;
            break;
        default:
            break;
        }

        i = llmopt_json_skip(w->toks, w->ntoks, i + 1);
    }

    if (role < 0) {
        start = (size_t) tok->start;
        llmopt_err_set(w->err, 400, start,
                       "'messages[%u].role' is a required property", index);
        w->err->type = "invalid_request_error";
        return LLMOPT_ERROR;
    }

    if (w->toks[role].type != JSMN_STRING) {
        (void) snprintf(field, sizeof(field), "messages[%u].role", index);
        return llmopt_request_type_error(w, (unsigned) role, field,
                                         "a string");
    }

    if (content < 0) {
        return LLMOPT_OK;
    }

    tok = &w->toks[content];

    if (tok->type == JSMN_PRIMITIVE && w->body[tok->start] == 'n') {
        return LLMOPT_OK;
    }

    if (tok->type != JSMN_STRING && tok->type != JSMN_ARRAY) {
        /* the name is made only for the message: not on the fast path */
        (void) snprintf(field, sizeof(field), "messages[%u].content", index);
        return llmopt_request_type_error(w, (unsigned) content, field,
                                         "one of a string, an array or "
                                         "null");
    }

    bytes = 0;
    longest.start = 0;
    longest.end = 0;

    if (llmopt_request_text(w, (unsigned) content, NULL, (int) index,
                            &bytes, &longest)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    llmopt_request_role_text(w, role, bytes, &longest);

    return LLMOPT_OK;
}


/*
 * A message's text of bytes, longest its longest piece, by its role (-1:
 * none): system and developer messages (not Anthropic's) are the system
 * prompt, the last user message with text the prompt.
 */

void
llmopt_request_role_text(llmopt_request_walk_t *w, int role, size_t bytes,
    const llmopt_span_t *longest)
{
    w->message_bytes += bytes;

    if (role < 0) {
        return;
    }

    if (w->req->dialect != LLMOPT_DIALECT_ANTHROPIC
        && (llmopt_json_str_eq(w->body, &w->toks[role], "system", 6)
            || llmopt_json_str_eq(w->body, &w->toks[role], "developer", 9)))
    {
        w->system_message_bytes += bytes;

        if (longest->end - longest->start
            > w->req->system.end - w->req->system.start)
        {
            w->req->system = *longest;
        }

    } else if (longest->end > longest->start
               && llmopt_json_str_eq(w->body, &w->toks[role], "user", 4))
    {
        w->req->prompt = *longest;
    }
}


/*
 * Text of a string or of an array of content blocks: a block's "text" and a
 * string "content" (Anthropic tool results) count.  Adds the raw bytes to
 * *bytes and keeps the longest text in *longest when it is not NULL.
 */

int
llmopt_request_text(llmopt_request_walk_t *w, unsigned value,
    const char *field, int index, size_t *bytes, llmopt_span_t *longest)
{
    int                       id;
    char                      path[64];
    size_t                    n;
    unsigned                  k, m, part, key;
    const llmopt_json_tok_t  *tok, *member;

    tok = &w->toks[value];

    if (tok->type == JSMN_STRING) {
        n = (size_t) (tok->end - tok->start);
        *bytes += n;

        if (longest != NULL && n > longest->end - longest->start) {
            longest->start = (size_t) tok->start;
            longest->end = (size_t) tok->end;
        }

        return LLMOPT_OK;
    }

    part = value + 1;

    for (k = 0; k < (unsigned) tok->size; k++) {

        if (w->toks[part].type != JSMN_OBJECT) {
            if (field != NULL) {
                (void) snprintf(path, sizeof(path), "%s[%u]", field, k);
            } else {
                (void) snprintf(path, sizeof(path), "messages[%d].content[%u]",
                                index, k);
            }
            return llmopt_request_type_error(w, part, path, "an object");
        }

        key = part + 1;

        for (m = 0; m < (unsigned) w->toks[part].size; m++) {
            id = llmopt_request_match(w, key, llmopt_request_part_names,
                     llmopt_request_nelts(llmopt_request_part_names));

            member = &w->toks[key + 1];

            if (id >= 0 && member->type == JSMN_STRING) {
                n = (size_t) (member->end - member->start);
                *bytes += n;

                if (id == LLMOPT_REQ_KEY_TEXT && longest != NULL
                    && n > longest->end - longest->start)
                {
                    longest->start = (size_t) member->start;
                    longest->end = (size_t) member->end;
                }
            }

            key = llmopt_json_skip(w->toks, w->ntoks, key + 1);
        }

        part = llmopt_json_skip(w->toks, w->ntoks, part);
    }

    return LLMOPT_OK;
}


/* A member that may be absent or null, else of kind want. */

int
llmopt_request_optional(llmopt_request_walk_t *w, unsigned value,
    const char *field, llmopt_json_kind_e want, const char *want_name)
{
    llmopt_json_kind_e  kind;

    kind = llmopt_json_kind(w->body, &w->toks[value]);

    if (kind == want || kind == LLMOPT_JSON_NULL) {
        return LLMOPT_OK;
    }

    return llmopt_request_type_error(w, value, field, want_name);
}


/* A non-negative integer or null (*result -1). */

int
llmopt_request_count(llmopt_request_walk_t *w, unsigned value,
    const char *field, int64_t *result)
{
    size_t                    start, end;
    llmopt_json_kind_e        kind;
    const llmopt_json_tok_t  *tok;

    tok = &w->toks[value];
    kind = llmopt_json_kind(w->body, tok);
    *result = -1;

    if (kind == LLMOPT_JSON_NULL) {
        return LLMOPT_OK;
    }

    if (kind != LLMOPT_JSON_NUMBER) {
        return llmopt_request_type_error(w, value, field, "an integer");
    }

    llmopt_json_value_span(tok, &start, &end);

    if (llmopt_json_int(w->body, tok, result) != LLMOPT_OK) {
        if (memchr(w->body + start, '.', end - start) != NULL
            || memchr(w->body + start, 'e', end - start) != NULL
            || memchr(w->body + start, 'E', end - start) != NULL)
        {
            return llmopt_request_type_error(w, value, field, "an integer");
        }

        llmopt_err_set(w->err, 400, start,
                       "Invalid '%s': integer above maximum value.", field);
        w->err->type = "invalid_request_error";
        return LLMOPT_ERROR;
    }

    if (*result < 0) {
        llmopt_err_set(w->err, 400, start,
                       "Invalid '%s': integer below minimum value. Expected "
                       "a value >= 0, but got %lld instead.", field,
                       (long long) *result);
        w->err->type = "invalid_request_error";
        return LLMOPT_ERROR;
    }

    return LLMOPT_OK;
}


int
llmopt_request_type_error(llmopt_request_walk_t *w, unsigned value,
    const char *field, const char *want_name)
{
    size_t                    start, end;
    const char               *got;
    llmopt_json_kind_e        kind;
    const llmopt_json_tok_t  *tok;

    tok = &w->toks[value];
    kind = llmopt_json_kind(w->body, tok);
    got = llmopt_json_kind_name(kind);

    llmopt_json_value_span(tok, &start, &end);

    if (kind == LLMOPT_JSON_NUMBER
        && strcmp(want_name, "an integer") == 0)
    {
        got = "a decimal";
    }

    llmopt_err_set(w->err, 400, start,
                   "Invalid type for '%s': expected %s, but got %s instead.",
                   field, want_name, got);
    w->err->type = "invalid_request_error";

    return LLMOPT_ERROR;
}


int
llmopt_request_member(const llmopt_request_t *req, const char *key,
    size_t key_len, llmopt_span_t *value)
{
    int  i;

    i = llmopt_json_member(req->body, req->toks, req->ntoks, 0, key,
                           key_len);

    if (i < 0) {
        value->start = 0;
        value->end = 0;
        return LLMOPT_DECLINED;
    }

    llmopt_json_value_span(&req->toks[i], &value->start, &value->end);

    return LLMOPT_OK;
}


const char *
llmopt_dialect_name(llmopt_dialect_e dialect)
{
    switch (dialect) {
    case LLMOPT_DIALECT_ANTHROPIC:
        return "anthropic";
    case LLMOPT_DIALECT_RESPONSES:
        return "responses";
    default:
        return "openai";
    }
}

/*
 * Copyright (C) llmopt authors
 *
 * What the translators share (llmopt_translate_write.c): the bounded
 * output writer, reading members of a parsed document, stop reasons and
 * usage in either dialect.  Internal to llmopt_translate_*.c (and
 * llmopt_sse_replay.c, which writes streams with it).
 */

#ifndef _LLMOPT_TRANSLATE_WRITE_H_INCLUDED_
#define _LLMOPT_TRANSLATE_WRITE_H_INCLUDED_


#include "llmopt_translate.h"


/* a parsed JSON document: its bytes and tokens */

typedef struct {
    const unsigned char      *buf;
    const llmopt_json_tok_t  *toks;
    unsigned                  ntoks;
} llmopt_xlate_doc_t;


/* stop reasons, one for each pair of names (docs/TRANSLATION.md) */

typedef enum {
    LLMOPT_XLATE_STOP_NONE = 0,         /* null: not finished */
    LLMOPT_XLATE_STOP_END,              /* stop / end_turn */
    LLMOPT_XLATE_STOP_SEQUENCE,         /* stop / stop_sequence */
    LLMOPT_XLATE_STOP_LENGTH,           /* length / max_tokens */
    LLMOPT_XLATE_STOP_TOOL,             /* tool_calls / tool_use */
    LLMOPT_XLATE_STOP_FILTER,           /* content_filter / refusal */
    LLMOPT_XLATE_STOP_PAUSE             /* stop / pause_turn */
} llmopt_xlate_stop_e;




void llmopt_xlate_put(llmopt_xlate_out_t *out, const void *p, size_t n);
#define llmopt_xlate_lit(out, s)  llmopt_xlate_put(out, s, sizeof(s) - 1)
/* a string that is not a literal (a choice between two) */
#define llmopt_xlate_str(out, s)  llmopt_xlate_put(out, s, strlen(s))
void llmopt_xlate_int(llmopt_xlate_out_t *out, int64_t v);
/* the raw JSON of value token i (strings with their quotes) */
void llmopt_xlate_raw(llmopt_xlate_out_t *out, const llmopt_xlate_doc_t *d,
    int i);
/* s[0 .. n - 1] as a JSON string (llmopt_json_quote()) */
void llmopt_xlate_quote(llmopt_xlate_out_t *out, const void *s, size_t n);
/* string token i decoded (llmopt_json_unescape()) */
void llmopt_xlate_unescape(llmopt_xlate_out_t *out,
    const llmopt_xlate_doc_t *d, int i);
/* ',' unless *first, which it clears */
void llmopt_xlate_sep(llmopt_xlate_out_t *out, int *first);

/* member key of obj, if there, as ,"to":value; its index or -1 */
int llmopt_xlate_copy(llmopt_xlate_out_t *out, const llmopt_xlate_doc_t *d,
    int obj, const char *key, const char *to);
/* 1 if token i is a string that starts "data:" */
int llmopt_xlate_is_data_url(const llmopt_xlate_doc_t *d, int i);
/* value of member key of object obj, -1 when absent or null */
int llmopt_xlate_member(const llmopt_xlate_doc_t *d, int obj,
    const char *key);
llmopt_json_kind_e llmopt_xlate_kind(const llmopt_xlate_doc_t *d, int i);
/* 1 if token i is a string equal to s */
int llmopt_xlate_is(const llmopt_xlate_doc_t *d, int i, const char *s);
/* the index after value i, to walk arrays and objects */
int llmopt_xlate_next(const llmopt_xlate_doc_t *d, int i);

llmopt_xlate_stop_e llmopt_xlate_stop_read(const llmopt_xlate_doc_t *d,
    int i);
/* the JSON string of stop in dialect dl, quotes included; "null" */
const char *llmopt_xlate_stop_name(llmopt_dialect_e dl,
    llmopt_xlate_stop_e stop);

/* the usage object obj of dialect dl into u (members present only) */
void llmopt_xlate_usage_read(llmopt_dialect_e dl,
    const llmopt_xlate_doc_t *d, int obj, llmopt_xlate_usage_t *u);
/* u as a usage object of dialect dl */
void llmopt_xlate_usage_write(llmopt_dialect_e dl, llmopt_xlate_out_t *out,
    const llmopt_xlate_usage_t *u);

/* the error body of dialect dl for status: type from the status */
void llmopt_xlate_error_write(llmopt_dialect_e dl, llmopt_xlate_out_t *out,
    int status, const char *msg, size_t len, int msg_is_json);

/* LLMOPT_OK, or LLMOPT_AGAIN when out outgrew its cap */
int llmopt_xlate_done(const llmopt_xlate_out_t *out);


/* --- requests (llmopt_translate_request.c) --- */

typedef struct {
    llmopt_xlate_t      *x;
    llmopt_xlate_doc_t   d;
    llmopt_xlate_out_t  *out;
    llmopt_err_t        *err;
} llmopt_xlate_req_t;


/*
 * The field at the path has no counterpart: LLMOPT_ERROR with err set, or
 * with drop_unsupported LLMOPT_DECLINED (skip it) and the path listed.
 */
int llmopt_xlate_refuse(llmopt_xlate_req_t *r, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* a field's path into path[LLMOPT_XLATE_PATH_MAX], cut if longer */
void llmopt_xlate_path(char *path, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* lists path in x->dropped */
void llmopt_xlate_note(llmopt_xlate_req_t *r, const char *path);
/* refuses each non-null member of obj not in known (NULL-ended) */
int llmopt_xlate_keys(llmopt_xlate_req_t *r, int obj,
    const char *const *known, const char *path);
/* a malformed request: LLMOPT_ERROR, 400, "\"path\" what" */
int llmopt_xlate_bad(llmopt_xlate_req_t *r, const char *path,
    const char *what);
/* a string or an array of text parts/blocks, written as text blocks */
int llmopt_xlate_parts_text(llmopt_xlate_req_t *r, int content,
    const char *path, int *first);

/* a {"type":"text","text":...} part or block, checked and written */
int llmopt_xlate_text_block(llmopt_xlate_req_t *r, int part,
    const char *path);
/* a data URL string token as an Anthropic base64 source */
int llmopt_xlate_data_url(llmopt_xlate_req_t *r, int url, const char *path);
/* a tool_use block as an OpenAI tool call, the input quoted */
void llmopt_xlate_tool_call(llmopt_xlate_out_t *out,
    const llmopt_xlate_doc_t *d, int block);

/* the two directions (llmopt_translate_req_*.c) */
int llmopt_xlate_oa_to_an(llmopt_xlate_req_t *r);
int llmopt_xlate_an_to_oa(llmopt_xlate_req_t *r);


/* --- streams (llmopt_translate_stream.c, llmopt_translate_events.c) --- */

/* the client's error event with msg (raw JSON string if msg_is_json) */
void llmopt_xlate_fail(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    const char *msg, size_t len, int msg_is_json);
#define llmopt_xlate_fail_lit(st, out, s)                                    \
    llmopt_xlate_fail(st, out, s, sizeof(s) - 1, 0)
/* the upstream's error event as the client's, its message kept */
void llmopt_xlate_fail_upstream(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
/* string token tok's raw bytes into dst[LLMOPT_XLATE_ID_MAX]; LLMOPT_ERROR
   when longer, LLMOPT_OK (dst untouched) when not a string */
int llmopt_xlate_keep(llmopt_xlate_stream_t *st, const llmopt_xlate_doc_t *d,
    int tok, char *dst, size_t *len);
/* an Anthropic upstream's message_start: id, model and usage kept;
   LLMOPT_ERROR, the stream failed, when repeated or id/model are bad */
int llmopt_xlate_an_message_start(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
/* its message_delta: the stop reason (a JSON output's tool_use as an end)
   and usage kept; the stop reason, LLMOPT_XLATE_STOP_NONE without one */
llmopt_xlate_stop_e llmopt_xlate_an_message_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d);
/* its content_block_start: the block it opens (a JSON output's tool as
   LLMOPT_XLATE_BLOCK_JSON, json_seen set); *v the text of a text block, *v
   and *name the id and name of a tool_use; LLMOPT_XLATE_BLOCK_NONE when the
   stream failed */
llmopt_xlate_block_e llmopt_xlate_an_block_read(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out, int *v, int *name);
/* its content_block_delta checked against the open block: the string token
   to write, or -1 when none (empty, skipped, signature, citation) or the
   stream failed */
int llmopt_xlate_an_delta(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
/*
 * One entry (call) of an OpenAI chunk's delta.tool_calls, checked: its
 * index in order, and a new call's id and name strings (*id, *name) and
 * its function (*fn).  LLMOPT_OK: a new call, st->s.tool its index;
 * LLMOPT_DECLINED: more of the open one; LLMOPT_ERROR: the stream failed.
 */
int llmopt_xlate_oa_call(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, int call, llmopt_xlate_out_t *out, int *fn,
    int *id, int *name);

/* an OpenAI upstream's chunk: an error fails the stream, the first chunk's
   id and model kept, usage read; the token of its first choice, or -1 when
   it has none or the stream failed (st->s.failed) */
int llmopt_xlate_oa_chunk(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
/* an event of each upstream dialect, parsed into d */
void llmopt_xlate_an_upstream(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
void llmopt_xlate_oa_upstream(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
/* the Anthropic client's end: block stop, message_delta, message_stop */
void llmopt_xlate_message_end(llmopt_xlate_stream_t *st,
    llmopt_xlate_out_t *out);


/* --- a Responses client (llmopt_translate_responses*.c) --- */

/* a Responses request as a request of r->x->upstream */
int llmopt_xlate_rs_request(llmopt_xlate_req_t *r);
/* the parts of a Responses message, written for r->x->upstream */
int llmopt_xlate_rs_parts(llmopt_xlate_req_t *r, int content,
    const char *path, int *first);
/* tools, tool_choice, text.format and reasoning of a Responses request */
int llmopt_xlate_rs_options(llmopt_xlate_req_t *r);
/* an upstream answer (either dialect) as a Responses response object */
int llmopt_xlate_rs_response(const llmopt_xlate_t *x,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out, llmopt_err_t *err);
/* Responses usage: input, cached, output, reasoning and total tokens */
void llmopt_xlate_rs_usage(llmopt_xlate_out_t *out,
    const llmopt_xlate_usage_t *u);
/* an upstream event of either dialect into response.* events */
void llmopt_xlate_rs_upstream(llmopt_xlate_stream_t *st,
    const llmopt_xlate_doc_t *d, llmopt_xlate_out_t *out);
/* the Responses client's end: the open item done, response.completed */
void llmopt_xlate_rs_end(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out);
/* the Responses client's error event */
void llmopt_xlate_rs_fail(llmopt_xlate_stream_t *st, llmopt_xlate_out_t *out,
    const char *msg, size_t len, int msg_is_json);


#endif /* _LLMOPT_TRANSLATE_WRITE_H_INCLUDED_ */

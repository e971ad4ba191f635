/*
 * Copyright (C) llmopt authors
 *
 * replay's data set: any CSV of the RouterBench schema read into rows of
 * a request body and each model's correctness and cost.  The models are
 * found from the headers; every error names file, row and column.
 */

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "llmopt_core.h"
#include "llmopt_json.h"
#include "llmopt_request.h"
#include "replay.h"


#define REPLAY_MAX_COLUMNS   1024
#define REPLAY_TOKS          256
#define REPLAY_MESSAGE_LEN   40     /* ,{"role":"user","content":""} */


typedef enum {
    REPLAY_VALUE_OK = 0,
    REPLAY_VALUE_MISSING,
    REPLAY_VALUE_BAD
} replay_value_e;


static char *replay_read(const char *path, size_t *len);
static int replay_csv_record(char **p, char *end, char **fields,
    unsigned max, unsigned *n, unsigned *lines);
static replay_value_e replay_value(const char *s, double *v);
static int replay_column(char **header, unsigned n, const char *name);
static char *replay_body(const char *prompt, size_t *len);
static char *replay_body_list(const char *list, size_t *len);
static size_t replay_py_string(const char **p, char *out);
static size_t replay_utf8(unsigned long cp, char *out);
static int replay_name_cmp(const void *a, const void *b);


static llmopt_json_tok_t  replay_toks[REPLAY_TOKS];


int
replay_data_add(replay_data_t *data, const char *path,
    int (*answers)(void *ctx, const replay_data_t *data,
    const replay_row_t *row, char **fields, const unsigned *r_col),
    void *ctx)
{
    int             rc;
    DIR            *dir;
    char          **names, *name, **grown;
    size_t          len;
    unsigned        n, cap, i;
    struct stat     st;
    struct dirent  *de;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }

    if (!S_ISDIR(st.st_mode)) {
        return replay_data_load(data, path, answers, ctx);
    }

    dir = opendir(path);
    if (dir == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }

    names = NULL;
    n = 0;
    cap = 0;

    while ((de = readdir(dir)) != NULL) {
        len = strlen(de->d_name);

        if (len < 5 || strcmp(de->d_name + len - 4, ".csv") != 0) {
            continue;
        }

        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            grown = realloc(names, cap * sizeof(char *));
            if (grown == NULL) {
                fprintf(stderr, "replay: out of memory\n");
                closedir(dir);
                return -1;
            }

            names = grown;
        }

        name = malloc(strlen(path) + len + 2);
        if (name == NULL) {
            fprintf(stderr, "replay: out of memory\n");
            closedir(dir);
            return -1;
        }

        sprintf(name, "%s/%s", path, de->d_name);
        names[n++] = name;
    }

    closedir(dir);

    if (n == 0) {
        fprintf(stderr, "replay: %s: no .csv file in the directory\n", path);
        return -1;
    }

    qsort(names, n, sizeof(char *), replay_name_cmp);

    rc = 0;

    for (i = 0; i < n; i++) {
        if (rc == 0) {
            rc = replay_data_load(data, names[i], answers, ctx);
        }

        if (rc != 0) {
            free(names[i]);     /* a loaded file's name stays in data */
        }
    }

    free(names);

    return rc;
}


int
replay_data_load(replay_data_t *data, const char *path,
    int (*answers)(void *ctx, const replay_data_t *data,
    const replay_row_t *row, char **fields, const unsigned *r_col),
    void *ctx)
{
    int                 c;
    char               *text, *p, *end, name[1024];
    char              **fields, **header;
    size_t              len;
    unsigned            n, n_header, i, m, k, prompt_col, line, record;
    unsigned            lines, found, complete;
    unsigned            q_col[REPLAY_MAX_MODELS], c_col[REPLAY_MAX_MODELS];
    unsigned            r_col[REPLAY_MAX_MODELS];
    replay_row_t        row, *grown;
    replay_value_e      v;
    llmopt_err_t        err;
    llmopt_request_t    req;

    if (data->n_files == REPLAY_MAX_FILES) {
        fprintf(stderr, "replay: %s: more than %d data files\n", path,
                REPLAY_MAX_FILES);
        return -1;
    }

    text = replay_read(path, &len);
    if (text == NULL) {
        return -1;
    }

    fields = malloc(2 * REPLAY_MAX_COLUMNS * sizeof(char *));
    if (fields == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }

    header = fields + REPLAY_MAX_COLUMNS;
    data->files[data->n_files] = path;      /* counted once loaded */

    p = text;
    end = text + len;
    lines = 0;

    if (len == 0) {
        fprintf(stderr, "replay: %s: row 1: empty file, expected a header\n",
                path);
        goto fail;
    }

    if (replay_csv_record(&p, end, header, REPLAY_MAX_COLUMNS, &n_header,
                          &lines)
        != 0)
    {
        fprintf(stderr, "replay: %s: row 1: the header is not CSV (an "
                "unclosed quote, or more than %d columns)\n", path,
                REPLAY_MAX_COLUMNS);
        goto fail;
    }

    c = replay_column(header, n_header, "prompt");

    if (c < 0) {
        fprintf(stderr, "replay: %s: row 1, column \"prompt\": missing\n",
                path);
        goto fail;
    }

    prompt_col = (unsigned) c;

    /* the models: columns X for which "X|total_cost" exists too */

    found = 0;

    for (i = 0; i < n_header; i++) {
        snprintf(name, sizeof(name), "%s|total_cost", header[i]);
        c = replay_column(header, n_header, name);

        if (c < 0) {
            continue;
        }

        if (found == REPLAY_MAX_MODELS) {
            fprintf(stderr, "replay: %s: row 1, column \"%s\": more than %d "
                    "models\n", path, header[i], REPLAY_MAX_MODELS);
            goto fail;
        }

        if (data->n_files == 0) {
            data->models[found] = strdup(header[i]);

            if (data->models[found] == NULL) {
                fprintf(stderr, "replay: out of memory\n");
                goto fail;
            }

            m = found;

        } else {
            c = replay_data_model(data, header[i]);

            if (c < 0) {
                fprintf(stderr, "replay: %s: row 1, column \"%s\": a model "
                        "%s does not have\n", path, header[i],
                        data->files[0]);
                goto fail;
            }

            m = (unsigned) c;
        }

        q_col[m] = i;
        c_col[m] = (unsigned) replay_column(header, n_header, name);

        snprintf(name, sizeof(name), "%s|model_response", header[i]);
        c = replay_column(header, n_header, name);
        r_col[m] = c < 0 ? (unsigned) -1 : (unsigned) c;

        found++;
    }

    if (found == 0) {
        fprintf(stderr, "replay: %s: row 1: no model columns (a model X "
                "needs the columns \"X\" and \"X|total_cost\")\n", path);
        goto fail;
    }

    if (data->n_files == 0) {
        data->n_models = found;

    } else if (found != data->n_models) {
        fprintf(stderr, "replay: %s: row 1: %u models, %s has %u\n", path,
                found, data->files[0], data->n_models);
        goto fail;
    }

    record = 1;

    while (p < end) {
        record++;
        line = lines + 1;

        if (replay_csv_record(&p, end, fields, REPLAY_MAX_COLUMNS, &n,
                              &lines)
            != 0)
        {
            fprintf(stderr, "replay: %s: row %u (line %u): not CSV (an "
                    "unclosed quote, or more than %d columns)\n", path,
                    record, line, REPLAY_MAX_COLUMNS);
            goto fail;
        }

        if (n == 1 && fields[0][0] == '\0') {
            record--;               /* a blank line */
            continue;
        }

        if (n != n_header) {
            fprintf(stderr, "replay: %s: row %u (line %u): %u columns, the "
                    "header has %u\n", path, record, line, n, n_header);
            goto fail;
        }

        row.quality = malloc(2 * data->n_models * sizeof(double));
        if (row.quality == NULL) {
            fprintf(stderr, "replay: out of memory\n");
            goto fail;
        }

        row.cost = row.quality + data->n_models;
        complete = 1;

        for (m = 0; m < data->n_models; m++) {
            for (k = 0; k < 2; k++) {
                i = k == 0 ? q_col[m] : c_col[m];
                v = replay_value(fields[i],
                                 k == 0 ? &row.quality[m] : &row.cost[m]);

                if (v == REPLAY_VALUE_MISSING) {
                    complete = 0;
                    continue;
                }

                if (v == REPLAY_VALUE_BAD
                    || (k == 0 && row.quality[m] > 1))
                {
                    fprintf(stderr, "replay: %s: row %u (line %u), column "
                            "\"%s\": \"%.40s\" is not %s\n", path, record,
                            line, header[i], fields[i],
                            k == 0 ? "a correctness in [0, 1]"
                                   : "a cost >= 0");
                    free(row.quality);
                    goto fail;
                }
            }
        }

        if (!complete) {
            data->skipped++;
            free(row.quality);
            continue;
        }

        row.file = data->n_files;
        row.body = replay_body(fields[prompt_col], &row.len);

        if (row.body == NULL) {
            fprintf(stderr, "replay: %s: row %u (line %u), column "
                    "\"prompt\": empty\n", path, record, line);
            free(row.quality);
            goto fail;
        }

        if (llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                                 (unsigned char *) row.body, row.len,
                                 replay_toks, REPLAY_TOKS, 64, &err)
            != LLMOPT_OK)
        {
            fprintf(stderr, "replay: %s: row %u (line %u), column "
                    "\"prompt\": its request does not parse: %s\n", path,
                    record, line, err.msg);
            free(row.quality);
            free(row.body);
            goto fail;
        }

        if (data->n_rows == data->cap_rows) {
            data->cap_rows = data->cap_rows ? 2 * data->cap_rows : 1024;
            grown = realloc(data->rows,
                            data->cap_rows * sizeof(replay_row_t));
            if (grown == NULL) {
                fprintf(stderr, "replay: out of memory\n");
                goto fail;
            }

            data->rows = grown;
        }

        if (answers != NULL && answers(ctx, data, &row, fields, r_col) != 0) {
            goto fail;
        }

        data->rows[data->n_rows++] = row;
        data->file_rows[data->n_files]++;
    }

    data->n_files++;

    free(fields);
    free(text);

    return 0;

fail:

    free(fields);
    free(text);

    return -1;
}


int
replay_data_model(const replay_data_t *data, const char *name)
{
    unsigned  m;

    for (m = 0; m < data->n_models; m++) {
        if (strcmp(data->models[m], name) == 0) {
            return (int) m;
        }
    }

    return -1;
}


static int
replay_column(char **header, unsigned n, const char *name)
{
    unsigned  i;

    for (i = 0; i < n; i++) {
        if (strcmp(header[i], name) == 0) {
            return (int) i;
        }
    }

    return -1;
}


static char *
replay_read(const char *path, size_t *len)
{
    long    size;
    char   *text;
    FILE   *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        fclose(f);
        return NULL;
    }

    text = malloc((size_t) size + 1);
    if (text == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        fclose(f);
        return NULL;
    }

    if (fread(text, 1, (size_t) size, f) != (size_t) size) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        fclose(f);
        free(text);
        return NULL;
    }

    fclose(f);

    text[size] = '\0';
    *len = (size_t) size;

    return text;
}


/*
 * Splits the record at *p into NUL-terminated fields, in place: RFC 4180,
 * quoted fields may hold commas, newlines and "" for a quote.  Moves *p
 * past the record's line end and adds the lines it spans to *lines.
 */

static int
replay_csv_record(char **p, char *end, char **fields, unsigned max,
    unsigned *n, unsigned *lines)
{
    char  *s, *w;

    s = *p;
    *n = 0;

    for ( ;; ) {
        if (*n == max) {
            return -1;
        }

        if (s < end && *s == '"') {
            fields[(*n)++] = ++s;
            w = s;

            for ( ;; ) {
                if (s >= end) {
                    return -1;
                }

                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        *w++ = '"';
                        s += 2;
                        continue;
                    }

                    s++;
                    break;
                }

                *lines += *s == '\n';
                *w++ = *s++;
            }

            *w = '\0';

        } else {
            fields[(*n)++] = s;

            while (s < end && *s != ',' && *s != '\n' && *s != '\r') {
                s++;
            }
        }

        if (s < end && *s == ',') {
            *s++ = '\0';
            continue;
        }

        if (s < end && *s == '\r') {
            *s++ = '\0';
        }

        if (s < end && *s == '\n') {
            *s++ = '\0';

        } else if (s < end) {
            return -1;
        }

        (*lines)++;
        *p = s;

        return 0;
    }
}


/*
 * A number filling the whole field: OK; MISSING for an empty field or a
 * NaN (as pandas writes one); BAD for anything else, a negative or an
 * infinite number.
 */

static replay_value_e
replay_value(const char *s, double *v)
{
    char  *end;

    while (*s == ' ') {
        s++;
    }

    if (*s == '\0' || strcasecmp(s, "nan") == 0 || strcmp(s, "None") == 0
        || strcmp(s, "NA") == 0)
    {
        return REPLAY_VALUE_MISSING;
    }

    errno = 0;
    *v = strtod(s, &end);

    while (end != s && *end == ' ') {
        end++;
    }

    if (errno != 0 || end == s || *end != '\0' || !isfinite(*v) || *v < 0) {
        return REPLAY_VALUE_BAD;
    }

    return REPLAY_VALUE_OK;
}


/*
 * The request body of a prompt: a Python list literal of strings (as
 * RouterBench writes them) is one user message per string, anything else
 * one user message of the text.  Returns the malloc()ed body, or NULL
 * when the prompt is empty.
 */

static char *
replay_body(const char *prompt, size_t *len)
{
    char        *body, *w;
    size_t       n;
    static const char  head[] = "{\"model\":\"llmopt-router\",\"messages\":"
                                "[{\"role\":\"user\",\"content\":";
    static const char  tail[] = "}]}";

    body = replay_body_list(prompt, len);

    if (body != NULL) {
        return body;
    }

    n = strlen(prompt);

    if (n == 0) {
        return NULL;
    }

    body = malloc(sizeof(head) + 6 * n + 2 + sizeof(tail));
    if (body == NULL) {
        return NULL;
    }

    w = body;
    memcpy(w, head, sizeof(head) - 1);
    w += sizeof(head) - 1;
    w += llmopt_json_quote((unsigned char *) w, prompt, n);
    memcpy(w, tail, sizeof(tail));
    w += sizeof(tail) - 1;
    *len = (size_t) (w - body);

    return body;
}


static char *
replay_body_list(const char *list, size_t *len)
{
    char        *text, *body, *w;
    size_t       n, cap;
    unsigned     count;
    const char  *p;
    static const char  head[] = "{\"model\":\"llmopt-router\",\"messages\":[";
    static const char  tail[] = "]}";

    p = list;

    while (*p == ' ') {
        p++;
    }

    if (*p++ != '[') {
        return NULL;
    }

    /*
     * Decoded UTF-8 is never longer than the literal, JSON quoting makes
     * at most 6 bytes of one and 2 quotes; a literal of cap bytes holds at
     * most cap / 2 strings, each a message of REPLAY_MESSAGE_LEN bytes
     * besides its text.
     */

    cap = strlen(list);
    text = malloc(cap + 1);
    body = malloc(sizeof(head) + 6 * cap
                  + REPLAY_MESSAGE_LEN * (cap / 2 + 1) + sizeof(tail));

    if (text == NULL || body == NULL) {
        free(text);
        free(body);
        return NULL;
    }

    w = body;
    memcpy(w, head, sizeof(head) - 1);
    w += sizeof(head) - 1;
    count = 0;

    for ( ;; ) {
        while (*p == ' ' || *p == '\n') {
            p++;
        }

        if (*p == ']' && p[1] == '\0') {
            break;
        }

        if (count > 0) {
            if (*p++ != ',') {
                goto fail;
            }

            while (*p == ' ' || *p == '\n') {
                p++;
            }
        }

        n = replay_py_string(&p, text);
        if (n == (size_t) -1) {
            goto fail;
        }

        w += sprintf(w, "%s{\"role\":\"user\",\"content\":",
                     count > 0 ? "," : "");
        w += llmopt_json_quote((unsigned char *) w, text, n);
        *w++ = '}';
        count++;
    }

    if (count == 0) {
        goto fail;
    }

    memcpy(w, tail, sizeof(tail));
    w += sizeof(tail) - 1;
    *len = (size_t) (w - body);

    free(text);

    return body;

fail:

    free(text);
    free(body);

    return NULL;
}


char *
replay_text(const char *literal, size_t *len)
{
    char        *text, *w;
    size_t       n;
    const char  *p;

    n = strlen(literal);
    text = malloc(n + 1);

    if (text == NULL) {
        return NULL;
    }

    p = literal;

    while (*p == ' ') {
        p++;
    }

    if (*p++ == '[') {
        w = text;

        for ( ;; ) {
            while (*p == ' ' || *p == '\n' || *p == ',') {
                p++;
            }

            if (*p == ']' && p[1] == '\0') {
                *w = '\0';
                *len = (size_t) (w - text);
                return text;
            }

            if (w > text) {
                *w++ = '\n';
            }

            n = replay_py_string(&p, w);

            if (n == (size_t) -1) {
                break;
            }

            w += n;
        }
    }

    /* not a list of string literals: the text as it is */

    n = strlen(literal);
    memcpy(text, literal, n + 1);
    *len = n;

    return text;
}


/*
 * Decodes one Python string literal ('...' or "...") at *p into out as
 * UTF-8, moving *p past it.  Returns the bytes written, (size_t) -1 when
 * it is not a literal.
 */

static size_t
replay_py_string(const char **p, char *out)
{
    char           quote, *w;
    unsigned       i, digits;
    unsigned long  cp;
    const char    *s;

    s = *p;
    quote = *s++;

    if (quote != '\'' && quote != '"') {
        return (size_t) -1;
    }

    w = out;

    for ( ;; ) {
        if (*s == '\0') {
            return (size_t) -1;
        }

        if (*s == quote) {
            s++;
            break;
        }

        if (*s != '\\') {
            *w++ = *s++;
            continue;
        }

        s++;

        switch (*s) {
        case 'n':  *w++ = '\n'; s++; break;
        case 't':  *w++ = '\t'; s++; break;
        case 'r':  *w++ = '\r'; s++; break;
        case 'a':  *w++ = '\a'; s++; break;
        case 'b':  *w++ = '\b'; s++; break;
        case 'f':  *w++ = '\f'; s++; break;
        case 'v':  *w++ = '\v'; s++; break;
        case '\\': *w++ = '\\'; s++; break;
        case '\'': *w++ = '\''; s++; break;
        case '"':  *w++ = '"';  s++; break;
        case '\n': s++; break;

        case 'x':
        case 'u':
        case 'U':
            digits = (*s == 'x') ? 2 : (*s == 'u') ? 4 : 8;
            s++;
            cp = 0;

            for (i = 0; i < digits; i++) {
                char  c = s[i];

                if (c >= '0' && c <= '9') {
                    cp = cp * 16 + (unsigned long) (c - '0');

                } else if (c >= 'a' && c <= 'f') {
                    cp = cp * 16 + (unsigned long) (c - 'a' + 10);

                } else if (c >= 'A' && c <= 'F') {
                    cp = cp * 16 + (unsigned long) (c - 'A' + 10);

                } else {
                    return (size_t) -1;
                }
            }

            s += digits;
            w += replay_utf8(cp, w);
            break;

        default:
            if (*s >= '0' && *s <= '7') {
                cp = 0;

                for (i = 0; i < 3 && *s >= '0' && *s <= '7'; i++) {
                    cp = cp * 8 + (unsigned long) (*s++ - '0');
                }

                w += replay_utf8(cp, w);
                break;
            }

            *w++ = '\\';            /* Python keeps unknown escapes */
            break;
        }
    }

    *p = s;

    return (size_t) (w - out);
}


/* A code point of an escape as UTF-8; an impossible one as U+FFFD. */

static size_t
replay_utf8(unsigned long cp, char *out)
{
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
        cp = 0xfffd;
    }

    return llmopt_json_utf8_put((unsigned) cp, (unsigned char *) out);
}


static int
replay_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"

int cli_exit_code(spd_status st)
{
    return st == SPD_ERR_INTERNAL || st == SPD_ERR_NOMEM ? 2 : 1;
}

int cli_fail(spd_status st, const char *fmt, ...)
{
    va_list ap;
    fputs("speedster: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return cli_exit_code(st);
}

int cli_fail_last(spd_status st) { return cli_fail(st, "%s", spd_last_error()); }

int cli_file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

spd_status cli_mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        fprintf(stderr, "speedster: path too long: %s\n", path);
        return SPD_ERR_INVALID;
    }
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "speedster: cannot create folder %s: %s\n", buf, strerror(errno));
                return SPD_ERR_IO;
            }
            *p = c;
        }
        if (c == '\0') break;
    }
    return SPD_OK;
}

spd_status cli_read_inputs(const cli_runnable *m, const char *dir, spd_tensor *in, int n)
{
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "speedster: %s: no such input folder\n", dir);
        return SPD_ERR_INVALID;
    }
    char path[4096];
    for (int k = 0; k < n; k++) {
        snprintf(path, sizeof path, "%s/input_%d.pb", dir, k);
        if (!cli_file_exists(path)) snprintf(path, sizeof path, "%s/input_%d.npy", dir, k);
        if (!cli_file_exists(path)) {
            fprintf(stderr, "speedster: %s: the model takes %d input%s ('%s' first), but %s/input_%d.pb (or .npy) is missing\n",
                    dir, n, n == 1 ? "" : "s", cli_input_name(m, 0), dir, k);
            for (int j = 0; j < k; j++) spd_tensor_release(&in[j]);
            return SPD_ERR_INVALID;
        }
        spd_status st = spd_tensor_read_file(path, &in[k]);
        if (st != SPD_OK) {
            fprintf(stderr, "speedster: %s\n", spd_last_error());
            for (int j = 0; j < k; j++) spd_tensor_release(&in[j]);
            return st;
        }
    }
    return SPD_OK;
}

/* xorshift: reproducible inputs without touching the process's rand(). */
static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

spd_status cli_random_inputs(const cli_runnable *m, spd_tensor *in, int n, unsigned seed)
{
    uint32_t s = seed ? seed : 0x9e3779b9u;
    for (int k = 0; k < n; k++) {
        spd_dtype dt;
        int nd;
        int64_t dims[SPD_MAX_DIMS];
        spd_status st = cli_input_info(m, k, &dt, &nd, dims);
        if (st != SPD_OK) return st;
        if (nd < 0 || dt == SPD_UNDEFINED) {
            fprintf(stderr, "speedster: input '%s' has no declared type or shape: give inputs with -i\n",
                    cli_input_name(m, k));
            return SPD_ERR_INVALID;
        }
        spd_tensor *t = &in[k];
        memset(t, 0, sizeof *t);
        t->dtype = dt;
        t->ndim = nd;
        int64_t count = 1;
        for (int d = 0; d < nd; d++) {
            t->dims[d] = dims[d] < 0 ? 1 : dims[d];
            count *= t->dims[d];
        }
        size_t esz = spd_dtype_size(dt);
        if (!esz) {
            fprintf(stderr, "speedster: input '%s' has type %s, which is not supported\n",
                    cli_input_name(m, k), spd_dtype_name(dt));
            return SPD_ERR_UNSUPPORTED;
        }
        t->data = calloc((size_t)count + 1, esz);
        if (!t->data) return SPD_ERR_NOMEM;
        for (int64_t i = 0; i < count; i++) {
            uint32_t r = next_rand(&s);
            switch (dt) {
            case SPD_FLOAT: ((float *)t->data)[i] = (float)r / 2147483648.0f - 1.0f; break;
            case SPD_DOUBLE: ((double *)t->data)[i] = (double)r / 2147483648.0 - 1.0; break;
            case SPD_INT64: ((int64_t *)t->data)[i] = r & 1; break;   /* ids and masks: small is safe */
            case SPD_INT32: ((int32_t *)t->data)[i] = (int32_t)(r & 1); break;
            case SPD_BOOL: ((uint8_t *)t->data)[i] = r & 1; break;
            default: memset((char *)t->data + (size_t)i * esz, 0, esz); break;
            }
        }
    }
    return SPD_OK;
}

spd_status cli_open(const char *path, cli_runnable *r)
{
    struct stat sb;
    r->model = NULL;
    r->learner = NULL;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return spd_learner_load(path, &r->learner);
    return spd_model_load(path, &r->model);
}

void cli_close(cli_runnable *r)
{
    spd_model_free(r->model);
    spd_learner_free(r->learner);
    r->model = NULL;
    r->learner = NULL;
}

int cli_num_inputs(const cli_runnable *r)
{
    return r->learner ? spd_learner_num_inputs(r->learner) : spd_model_num_inputs(r->model);
}

int cli_num_outputs(const cli_runnable *r)
{
    return r->learner ? spd_learner_num_outputs(r->learner) : spd_model_num_outputs(r->model);
}

const char *cli_input_name(const cli_runnable *r, int i)
{
    return r->learner ? spd_learner_input_name(r->learner, i) : spd_model_input_name(r->model, i);
}

spd_status cli_input_info(const cli_runnable *r, int i, spd_dtype *dt, int *nd, int64_t *dims)
{
    return r->learner ? spd_learner_input_info(r->learner, i, dt, nd, dims) : spd_model_input_info(r->model, i, dt, nd, dims);
}

spd_status cli_run(cli_runnable *r, const spd_tensor *in, int n_in, spd_tensor *out, int n_out)
{
    return r->learner ? spd_learner_run(r->learner, in, n_in, out, n_out) : spd_model_run(r->model, in, n_in, out, n_out);
}

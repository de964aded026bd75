/* One model run from several threads at once, from its very first call:
 * the calls race to pack the convolution weights on first use and for the
 * memory plan, and every call must still return the single-threaded
 * answer, bit for bit.
 *
 * usage: test_concurrency REPO_ROOT
 * Prints one line per failed check and "N checks, N failed". */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "speedster.h"

enum { THREADS = 4, CALLS = 12 };

/* every caller starts its first call at the same moment */
static pthread_barrier_t g_start;

typedef struct caller {
    spd_model *m;
    const spd_tensor *in;
    const spd_tensor *want;
    int failed_runs, mismatches;
} caller;

static void *call_many(void *arg)
{
    caller *c = arg;
    pthread_barrier_wait(&g_start);
    for (int i = 0; i < CALLS; i++) {
        spd_tensor out;
        memset(&out, 0, sizeof out);
        if (spd_model_run(c->m, c->in, 1, &out, 1) != SPD_OK) {
            c->failed_runs++;
            continue;
        }
        if (spd_tensor_nbytes(&out) != spd_tensor_nbytes(c->want) ||
            memcmp(out.data, c->want->data, spd_tensor_nbytes(&out)) != 0)
            c->mismatches++;
        spd_tensor_release(&out);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_concurrency REPO_ROOT\n");
        return 2;
    }
    char model[4096], input_path[4096];
    snprintf(model, sizeof model, "%s/examples/tiny_cnn/model.onnx", argv[1]);
    snprintf(input_path, sizeof input_path, "%s/examples/tiny_cnn/test_data_set_0/input_0.pb", argv[1]);
    int checks = 0, failed = 0;
    spd_tensor in, want;
    memset(&in, 0, sizeof in);
    memset(&want, 0, sizeof want);
    spd_model *ref = NULL, *m = NULL;
    /* each operator on one thread, so the callers themselves overlap */
    spd_set_num_threads(1);
    if (spd_tensor_read_file(input_path, &in) != SPD_OK || spd_model_load(model, &ref) != SPD_OK ||
        spd_model_run(ref, &in, 1, &want, 1) != SPD_OK || spd_model_load(model, &m) != SPD_OK) {
        printf("FAIL setup: %s\n", spd_last_error());
        return 1;
    }
    caller c[THREADS];
    pthread_t t[THREADS];
    int started = 0;
    pthread_barrier_init(&g_start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        c[i] = (caller){m, &in, &want, 0, 0};
        if (pthread_create(&t[i], NULL, call_many, &c[i]) != 0) {
            printf("FAIL could not start caller thread %d\n", i);
            return 1; /* the others wait at the barrier for it */
        }
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&g_start);
    for (int i = 0; i < started; i++) {
        checks += 2;
        if (c[i].failed_runs) {
            failed++;
            printf("FAIL caller %d: %d of %d runs failed (%s)\n", i, c[i].failed_runs, CALLS, spd_last_error());
        }
        if (c[i].mismatches) {
            failed++;
            printf("FAIL caller %d: %d of %d outputs differ from the single-threaded run\n", i, c[i].mismatches,
                   CALLS);
        }
    }
    checks++;
    if (started < 2) {
        failed++;
        printf("FAIL only %d caller threads started\n", started);
    }
    spd_tensor_release(&want);
    spd_tensor_release(&in);
    spd_model_free(ref);
    spd_model_free(m);
    printf("%d checks, %d failed\n", checks, failed);
    return failed ? 1 : 0;
}

/* synthtune bench-only harness: times OpenBLAS cblas_sgemm, the yardstick for st::sgemm.
 * Never a runtime dependency of synthtune. Same shapes/timing/output as
 * native/tests/sgemm_bench.cc, so the two JSON streams can be compared line by line.
 *
 * Shapes: M, N, K as in native/kernels.h: C(M,N) = A(M,K) . op(B), op(B) = B (K,N) or B^T with
 * B stored (N,K) when trans_b.
 *
 * Build (Debian: apt-get install libopenblas-dev):
 *   gcc -O2 -o /tmp/sgemm_ref bench/openblas/sgemm_ref.c -lopenblas -lm
 * Run:
 *   OPENBLAS_NUM_THREADS=2 /tmp/sgemm_ref                 # default shapes, both trans_b
 *   OPENBLAS_NUM_THREADS=2 /tmp/sgemm_ref 4096 384 1536   # M K N triples (trans_b both)
 * Output: one JSON line per shape
 *   {"impl":"openblas","m":..,"n":..,"k":..,"trans_b":bool,"threads":..,"median_ms":..,"gflops":..,
 *    "min_ms":..,"gflops_best":..}   (gflops from the median; *_best from the fastest run, which
 *                                     is the robust number on a shared, noisy machine)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_d(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static void run(int M, int K, int N, int trans_b) {
  float* A = malloc(sizeof(float) * (size_t)M * K);
  float* B = malloc(sizeof(float) * (size_t)K * N);
  float* C = malloc(sizeof(float) * (size_t)M * N);
  for (size_t i = 0; i < (size_t)M * K; ++i) A[i] = (float)rand() / RAND_MAX - 0.5f;
  for (size_t i = 0; i < (size_t)K * N; ++i) B[i] = (float)rand() / RAND_MAX - 0.5f;
  const int ldb = trans_b ? K : N;
  double t[101];
  int reps = 0;
  double total = 0;
  for (int w = 0; w < 2; ++w)  /* warm-up: thread start, page faults */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
                K, B, ldb, 0.0f, C, N);
  while (reps < 101 && (reps < 7 || total < 1000.0)) {
    double t0 = now_ms();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
                K, B, ldb, 0.0f, C, N);
    t[reps] = now_ms() - t0;
    total += t[reps++];
  }
  qsort(t, reps, sizeof(double), cmp_d);
  double med = t[reps / 2];
  printf("{\"impl\":\"openblas\",\"m\":%d,\"n\":%d,\"k\":%d,\"trans_b\":%s,\"threads\":%d,"
         "\"median_ms\":%.3f,\"gflops\":%.1f,\"min_ms\":%.3f,\"gflops_best\":%.1f}\n",
         M, N, K, trans_b ? "true" : "false", openblas_get_num_threads(), med,
         2.0 * M * N * K / (med * 1e6), t[0], 2.0 * M * N * K / (t[0] * 1e6));
  fflush(stdout);
  free(A); free(B); free(C);
}

int main(int argc, char** argv) {
  if (argc >= 4) {
    for (int a = 1; a + 2 < argc; a += 3)
      for (int tb = 0; tb < 2; ++tb) run(atoi(argv[a]), atoi(argv[a + 1]), atoi(argv[a + 2]), tb);
    return 0;
  }
  static const int shapes[][3] = {{4096, 384, 1536}, {2048, 768, 768}, {512, 384, 384},
                                  {128, 64, 64}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
    for (int tb = 0; tb < 2; ++tb) run(shapes[s][0], shapes[s][1], shapes[s][2], tb);
  return 0;
}

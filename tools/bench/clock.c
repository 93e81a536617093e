/* clock.c: measures the core clock and the AVX2 FMA throughput of this
 * machine (no cycle counters under KVM, so the clock is derived from a chain
 * of dependent 1-cycle integer adds).
 *   gcc -O2 -mavx2 -mfma -pthread -o /tmp/aotp-clock tools/bench/clock.c
 *   /tmp/aotp-clock [threads]   -> one JSON line
 * Written for tools/bench/compare.sh. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 100 dependent adds per iteration: 100 cycles per iteration. */
static double ghz(void) {
	long iters = 200000; /* ~7 ms: short reps, best of many, to dodge a noisy neighbour */
	double best = 0;
	for (int rep = 0; rep < 60; rep++) {
		unsigned long x = rep;
		double t0 = now();
		for (long i = 0; i < iters; i++) {
			__asm__ volatile(
#define A1 "add $1, %0\n\t"
#define A10 A1 A1 A1 A1 A1 A1 A1 A1 A1 A1
			    A10 A10 A10 A10 A10 A10 A10 A10 A10 A10
			    : "+r"(x));
		}
		double dt = now() - t0;
		double g = iters * 100.0 / dt / 1e9;
		if (g > best) best = g;
	}
	return best;
}

/* 10 independent FMA chains on ymm registers: 2 FMA/cycle on Zen 3. */
static void *fma_loop(void *arg) {
	long iters = *(long *)arg;
	__asm__ volatile("vxorps %%ymm0,%%ymm0,%%ymm0\n\t" "vxorps %%ymm1,%%ymm1,%%ymm1\n\t"
	                 "vxorps %%ymm2,%%ymm2,%%ymm2\n\t" "vxorps %%ymm3,%%ymm3,%%ymm3\n\t"
	                 "vxorps %%ymm4,%%ymm4,%%ymm4\n\t" "vxorps %%ymm5,%%ymm5,%%ymm5\n\t"
	                 "vxorps %%ymm6,%%ymm6,%%ymm6\n\t" "vxorps %%ymm7,%%ymm7,%%ymm7\n\t"
	                 "vxorps %%ymm8,%%ymm8,%%ymm8\n\t" "vxorps %%ymm9,%%ymm9,%%ymm9\n\t"
	                 "vxorps %%ymm14,%%ymm14,%%ymm14\n\t" "vxorps %%ymm15,%%ymm15,%%ymm15\n\t" ::
	                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm14", "xmm15");
	for (long i = 0; i < iters; i++) {
		__asm__ volatile(
#define F(r) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #r "\n\t"
		    F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9)
		    F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9)
		    :: : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9");
	}
	return NULL;
}

static double fma_gflops(int threads) {
	long iters = 500000; /* 20 FMA × 16 flop per iteration */
	double best = 0;
	for (int rep = 0; rep < 60; rep++) {
		pthread_t th[64];
		double t0 = now();
		for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, fma_loop, &iters);
		for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
		double dt = now() - t0;
		double g = threads * iters * 20.0 * 16.0 / dt / 1e9;
		if (g > best) best = g;
	}
	return best;
}

int main(int argc, char **argv) {
	int threads = argc > 1 ? atoi(argv[1]) : 2;
	if (threads < 1 || threads > 64) threads = 2;
	double g = ghz();
	double f1 = fma_gflops(1);
	double fn = fma_gflops(threads);
	printf("{\"clock_ghz\": %.3f, \"peak_gflops_from_clock\": %.1f, \"fma_gflops_1thread\": %.1f, "
	       "\"fma_gflops_threads\": %.1f, \"threads\": %d}\n",
	       g, threads * 32.0 * g, f1, fn, threads);
	return 0;
}

/* Micro-kernel tile shapes on L1-resident packed panels (8x32 as the
 * library's kernel and as written here, with and without its B prefetch;
 * 12x32, 14x32, 6x64, 4x64), as a fraction of one core's FMA peak: whether
 * a CPU's shortfall is the kernel's or the memory's. Prints figures; not a
 * test. Built like gemm_probe.c. On the device Xeon (2026-11-27) every
 * shape ran at 95-103% of peak, as on Zen 5. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <immintrin.h>
#include "ops/sgemm_fast.h"
static double now(void){struct timespec ts; clock_gettime(CLOCK_MONOTONIC,&ts); return ts.tv_sec*1e9+ts.tv_nsec;}
#define T __attribute__((target("avx512f"),noinline))
T static double peak(void){
  __m512 a[12]; for(int i=0;i<12;i++) a[i]=_mm512_set1_ps(i*0.001f); const __m512 m=_mm512_set1_ps(0.9999f), c=_mm512_set1_ps(1e-6f);
  long n=20000000; double t0=now();
  for(long i=0;i<n;i++){
#pragma GCC unroll 12
    for(int j=0;j<12;j++) a[j]=_mm512_fmadd_ps(a[j],m,c);}
  double t=now()-t0; float s=0; for(int i=0;i<12;i++) s+=_mm512_reduce_add_ps(a[i]); if(s==12345.f) puts("");
  return 2.0*16*12*n/t; }
/* R rows x V vectors; A packed (p*R + r), B packed (p*16V + 16v); PF: prefetch B 8 rows ahead */
#define KDEF(NAME,R,V,PF) \
T static void NAME(long k, const float *a, const float *b, float *C, long ldc) { \
  __m512 acc[R][V]; \
  _Pragma("GCC unroll 16") for(int r=0;r<R;r++) _Pragma("GCC unroll 4") for(int v=0;v<V;v++) acc[r][v]=_mm512_setzero_ps(); \
  for(long p=0;p<k;p++,a+=R,b+=16*V){ \
    if(PF){ _Pragma("GCC unroll 4") for(int v=0;v<V;v+=2) _mm_prefetch((const char*)(b+8*16*V+16*v),_MM_HINT_T0);} \
    __m512 bv[V]; _Pragma("GCC unroll 4") for(int v=0;v<V;v++) bv[v]=_mm512_loadu_ps(b+16*v); \
    _Pragma("GCC unroll 16") for(int r=0;r<R;r++){ __m512 ar=_mm512_set1_ps(a[r]); \
      _Pragma("GCC unroll 4") for(int v=0;v<V;v++) acc[r][v]=_mm512_fmadd_ps(ar,bv[v],acc[r][v]);}} \
  _Pragma("GCC unroll 16") for(int r=0;r<R;r++) _Pragma("GCC unroll 4") for(int v=0;v<V;v++) _mm512_storeu_ps(C+r*ldc+16*v,acc[r][v]); }
KDEF(k8x32,8,2,1) KDEF(k8x32n,8,2,0) KDEF(k12x32,12,2,0) KDEF(k14x32,14,2,0) KDEF(k6x64,6,4,0) KDEF(k4x64,4,4,0) KDEF(k12x32p,12,2,1)
typedef void (*kf)(long,const float*,const float*,float*,long);
static float *A, *B, *Cc;
static double time_k(kf f,int R,int V,long K){
  int N=20000; double best=1e30;
  for(int rep=0;rep<5;rep++){double t0=now(); for(int i=0;i<N;i++) f(K,A,B,Cc,64); double t=(now()-t0)/N; if(t<best)best=t;}
  return 2.0*R*16*V*K/best; }
static double time_lib(const spd_sgemm_kernel *kk,long K){
  int N=20000; double best=1e30; spd_tile_epi te={0};
  for(int rep=0;rep<5;rep++){double t0=now(); for(int i=0;i<N;i++) kk->kernel(K,A,B,Cc,64,8,32,1.0f,0.0f,&te); double t=(now()-t0)/N; if(t<best)best=t;}
  return 2.0*8*32*K/best; }
int main(void){
  double pk=peak(); printf("fma peak 1 core: %.1f GFLOP/s\n",pk);
  A=aligned_alloc(64,16*512*4); B=aligned_alloc(64,512*64*4); Cc=aligned_alloc(64,16*64*4);
  for(int i=0;i<16*512;i++) A[i]=(i%7)*0.01f;
  for(int i=0;i<512*64;i++) B[i]=(i%5)*0.01f;
  const spd_sgemm_kernel *kk=spd_sgemm_kernel_current();
  for(long K=64;K<=256;K*=2){
    printf("K %ld: lib 8x32 %.0f%%", K, 100*time_lib(kk,K)/pk);
    printf(" | 8x32pf %.0f%% 8x32 %.0f%% 12x32 %.0f%% 12x32pf %.0f%% 14x32 %.0f%% 6x64 %.0f%% 4x64 %.0f%%\n",
      100*time_k(k8x32,8,2,K)/pk,100*time_k(k8x32n,8,2,K)/pk,100*time_k(k12x32,12,2,K)/pk,100*time_k(k12x32p,12,2,K)/pk,
      100*time_k(k14x32,14,2,K)/pk,100*time_k(k6x64,6,4,K)/pk,100*time_k(k4x64,4,4,K)/pk);
  }
}

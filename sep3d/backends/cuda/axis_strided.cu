// One 1-D correlation along a strided axis of a C-contiguous array seen as
// (outer, n, inner), inner > 1: a warp spans 32 consecutive columns (coalesced loads and
// stores) and each thread walks down its column over `seg` outputs with a register queue
// of the last K samples: one load and K multiply-adds per output, no shared memory, no
// __syncthreads. The boundary remap runs only for samples outside the axis.
//
// K is a compile-time bucket (taps zero-padded on the right up to K), so a new sigma
// reuses the compiled kernel. Grid: x over column blocks, y over segments of the axis,
// z over `outer` (looped when outer exceeds the grid).
// Not in place: other segments read the halo this one writes.

template <typename T, int K, int MODE>
__global__ void axis_strided(const T* __restrict__ src, T* __restrict__ dst,
                             const T* __restrict__ taps, int left, int n, long long inner,
                             long long outer, int seg, T cval, int store, T scale, T divisor) {
    long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= inner) return;
    int i0 = blockIdx.y * seg;
    int i1 = min(n, i0 + seg);
    T w[K];
#pragma unroll
    for (int j = 0; j < K; ++j) w[j] = taps[j];
    for (long long o = blockIdx.z; o < outer; o += gridDim.z) {
        const T* s = src + o * n * inner + c;
        T* d = dst + o * n * inner + c;
        T q[K];
#pragma unroll
        for (int j = 0; j < K - 1; ++j) q[j] = sep3d_load<T, MODE>(s, inner, i0 - left + j, n, cval);
        for (int i = i0; i < i1; ++i) {
            q[K - 1] = sep3d_load<T, MODE>(s, inner, i - left + K - 1, n, cval);
            T acc = w[0] * q[0];
#pragma unroll
            for (int j = 1; j < K; ++j) acc = fma(w[j], q[j], acc);
            sep3d_store(d + (long long)i * inner, acc, store, scale, divisor);
#pragma unroll
            for (int j = 0; j < K - 1; ++j) q[j] = q[j + 1];
        }
    }
}

// Any tap count: the taps are read from global memory (cached, the same address for the
// whole warp) and every output loads its K samples (they hit L1/L2).
template <typename T, int MODE>
__global__ void axis_strided_any(const T* __restrict__ src, T* __restrict__ dst,
                                 const T* __restrict__ taps, int size, int left, int n,
                                 long long inner, long long outer, int seg, T cval, int store,
                                 T scale, T divisor) {
    long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= inner) return;
    int i0 = blockIdx.y * seg;
    int i1 = min(n, i0 + seg);
    for (long long o = blockIdx.z; o < outer; o += gridDim.z) {
        const T* s = src + o * n * inner + c;
        T* d = dst + o * n * inner + c;
        for (int i = i0; i < i1; ++i) {
            T acc = T(0);
            for (int j = 0; j < size; ++j)
                acc = fma(__ldg(taps + j), sep3d_load<T, MODE>(s, inner, i - left + j, n, cval), acc);
            sep3d_store(d + (long long)i * inner, acc, store, scale, divisor);
        }
    }
}

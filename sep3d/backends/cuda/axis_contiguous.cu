// One 1-D correlation along the contiguous (last) axis of a C-contiguous array seen as
// (rows, n): each block row (threadIdx.y) loads a segment of P * blockDim.x outputs plus
// its halo into shared memory once, remapping the boundary while it loads, then each
// thread computes P outputs spaced blockDim.x apart (conflict-free shared reads,
// coalesced stores). K is a compile-time bucket (taps zero-padded on the right).
// Grid: x over segments of the row, y over groups of blockDim.y rows (looped).
// Not in place: neighbouring blocks read the halo this one writes.
// Dynamic shared memory: blockDim.y * (P * blockDim.x + K - 1) elements.

#define CONTIG_P 4  // P: outputs per thread (sep3d.backends.cuda.CONTIG_P)

template <typename T, int K, int MODE>
__global__ void axis_contiguous(const T* __restrict__ src, T* __restrict__ dst,
                                const T* __restrict__ taps, int left, int n, long long rows,
                                T cval, int store, T scale, T divisor) {
    SEP3D_DYNAMIC_SHARED(T, smem);
    const int width = CONTIG_P * blockDim.x;
    const int span = width + K - 1;
    T* line = smem + threadIdx.y * span;
    const int x0 = blockIdx.x * width;
    T w[K];
#pragma unroll
    for (int j = 0; j < K; ++j) w[j] = taps[j];
    for (long long r0 = (long long)blockIdx.y * blockDim.y; r0 < rows; r0 += (long long)gridDim.y * blockDim.y) {
        long long r = r0 + threadIdx.y;
        if (r < rows) {
            const T* s = src + r * n;
            for (int t = threadIdx.x; t < span; t += blockDim.x)
                line[t] = sep3d_load<T, MODE>(s, 1, x0 - left + t, n, cval);
        }
        __syncthreads();
        if (r < rows) {
            T* d = dst + r * n;
#pragma unroll
            for (int p = 0; p < CONTIG_P; ++p) {
                int t = threadIdx.x + p * blockDim.x;
                if (x0 + t < n) {
                    T acc = w[0] * line[t];
#pragma unroll
                    for (int j = 1; j < K; ++j) acc = fma(w[j], line[t + j], acc);
                    sep3d_store(d + x0 + t, acc, store, scale, divisor);
                }
            }
        }
        __syncthreads();
    }
}

// Any tap count: the same tiling with a runtime tap loop; taps read through the cache.
template <typename T, int MODE>
__global__ void axis_contiguous_any(const T* __restrict__ src, T* __restrict__ dst,
                                    const T* __restrict__ taps, int size, int left, int n,
                                    long long rows, T cval, int store, T scale, T divisor) {
    SEP3D_DYNAMIC_SHARED(T, smem);
    const int width = CONTIG_P * blockDim.x;
    const int span = width + size - 1;
    T* line = smem + threadIdx.y * span;
    const int x0 = blockIdx.x * width;
    for (long long r0 = (long long)blockIdx.y * blockDim.y; r0 < rows; r0 += (long long)gridDim.y * blockDim.y) {
        long long r = r0 + threadIdx.y;
        if (r < rows) {
            const T* s = src + r * n;
            for (int t = threadIdx.x; t < span; t += blockDim.x)
                line[t] = sep3d_load<T, MODE>(s, 1, x0 - left + t, n, cval);
        }
        __syncthreads();
        if (r < rows) {
            T* d = dst + r * n;
            for (int p = 0; p < CONTIG_P; ++p) {
                int t = threadIdx.x + p * blockDim.x;
                if (x0 + t < n) {
                    T acc = T(0);
                    for (int j = 0; j < size; ++j) acc = fma(__ldg(taps + j), line[t + j], acc);
                    sep3d_store(d + x0 + t, acc, store, scale, divisor);
                }
            }
        }
        __syncthreads();
    }
}

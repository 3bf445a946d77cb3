// Shared by every sep3d CUDA kernel: boundary modes, index remapping, stores.
// The engine (sep3d/backends/cuda.py) prepends this file to each kernel source.

// Mode codes: the same numbers as sep3d._validate.Mode.
#define SEP3D_REFLECT 0
#define SEP3D_MIRROR 1
#define SEP3D_NEAREST 2
#define SEP3D_WRAP 3
#define SEP3D_CONSTANT 4

// Store codes: the same numbers as sep3d.plan.WRITE, ADD, WRITE_SQUARE, ADD_SQUARE.
#define SEP3D_WRITE 0
#define SEP3D_ADD 1
#define SEP3D_WRITE_SQUARE 2
#define SEP3D_ADD_SQUARE 3

#ifndef SEP3D_EMULATION
#define SEP3D_DYNAMIC_SHARED(T, name) \
    extern __shared__ __align__(16) unsigned char sep3d_smem_[]; \
    T* name = reinterpret_cast<T*>(sep3d_smem_)
#endif

// Position of sample `i` of an axis of length `n` after the boundary extension, or -1
// where the value is cval. scipy.ndimage's rules; the closed forms cover a reach of up
// to one axis length and the modulo branch anything beyond (a short axis, a wide kernel).
template <int MODE>
__device__ __forceinline__ int sep3d_remap(int i, int n) {
    if (i >= 0 && i < n) return i;
    if (MODE == SEP3D_CONSTANT) return -1;
    if (MODE == SEP3D_NEAREST) return i < 0 ? 0 : n - 1;
    if (MODE == SEP3D_WRAP) {
        if (i >= -n && i < 2 * n) return i < 0 ? i + n : i - n;
        int t = i % n;
        return t < 0 ? t + n : t;
    }
    if (MODE == SEP3D_REFLECT) {  // half-sample symmetric, period 2n
        if (i >= -n && i < 2 * n) return i < 0 ? -1 - i : 2 * n - 1 - i;
        int p = 2 * n;
        int t = i % p;
        if (t < 0) t += p;
        return t >= n ? p - 1 - t : t;
    }
    // mirror: whole-sample symmetric, period 2n - 2
    if (n == 1) return 0;
    if (i > -n && i < 2 * n - 1) return i < 0 ? -i : 2 * n - 2 - i;
    int p = 2 * n - 2;
    int t = i % p;
    if (t < 0) t += p;
    return t >= n ? p - t : t;
}

// Sample `i` of a line starting at `line` with element stride `stride`.
template <typename T, int MODE>
__device__ __forceinline__ T sep3d_load(const T* __restrict__ line, long long stride, int i, int n, T cval) {
    int j = sep3d_remap<MODE>(i, n);
    return j < 0 ? cval : line[(long long)j * stride];
}

// dst (store)= value * scale / divisor.
template <typename T>
__device__ __forceinline__ void sep3d_store(T* dst, T value, int store, T scale, T divisor) {
    if (divisor != T(1)) value = value / divisor;
    value = value * scale;
    switch (store) {
        case SEP3D_WRITE: *dst = value; break;
        case SEP3D_ADD: *dst += value; break;
        case SEP3D_WRITE_SQUARE: *dst = value * value; break;
        default: *dst += value * value; break;
    }
}

// A recursive (IIR) operator along one axis of a C-contiguous array seen as
// (outer, n, inner): the 4th-order causal + anticausal recursion of sep3d.kernels.IIR
// (ITK's RecursiveSeparableImageFilter form), one thread per line, double precision
// inside. Threads of a warp take consecutive columns, so loads and stores along a
// strided axis are coalesced; a contiguous axis (inner == 1) gives strided lines (the
// dispatcher accepts that: the recursion is latency-bound, not bandwidth-bound).
//
// The line is extended by `ext` samples on each side with the boundary mode (0 for
// nearest, whose steady state the recursion starts in); the causal part goes to `work`
// (one double per extended sample, laid out [t][line] so it is coalesced too), then the
// anticausal recursion adds it and stores. Not in place: with a mode other than nearest
// the extension re-reads samples of the line the thread has already stored.
// coef: n0..n3, d1..d4, m1..m4, bn1..bn4, bm1..bm4.

template <typename T, int MODE>
__global__ void axis_recursive(const T* __restrict__ src, T* dst, double* __restrict__ work,
                               const double* __restrict__ coef, int n, int ext, long long inner,
                               long long outer, T cval, int store, T scale) {
    long long line = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long lines = inner * outer;
    if (line >= lines) return;
    long long o = line / inner;
    long long c = line - o * inner;
    const T* s = src + o * (long long)n * inner + c;
    T* d = dst + o * (long long)n * inner + c;
    const int m = n + 2 * ext;
    const double n0 = coef[0], n1 = coef[1], n2 = coef[2], n3 = coef[3];
    const double d1 = coef[4], d2 = coef[5], d3 = coef[6], d4 = coef[7];
    const double m1 = coef[8], m2 = coef[9], m3 = coef[10], m4 = coef[11];
    const double bn = coef[12] + coef[13] + coef[14] + coef[15];
    const double bm = coef[16] + coef[17] + coef[18] + coef[19];
    const double sn = n0 + n1 + n2 + n3, sm = m1 + m2 + m3 + m4;

    // causal: x1..x3 previous inputs, y1..y4 previous outputs, all in registers; before
    // the line they hold the edge sample and the steady state (ITK's boundary start).
    double v = (double)sep3d_load<T, MODE>(s, inner, -ext, n, cval);
    double x1 = v, x2 = v, x3 = v;
    double steady = v * sn - v * bn;
    double y1 = steady, y2 = steady, y3 = steady, y4 = steady;
    for (int t = 0; t < m; ++t) {
        double x = (double)sep3d_load<T, MODE>(s, inner, t - ext, n, cval);
        double y = (x * n0 + x1 * n1 + x2 * n2 + x3 * n3) - (y1 * d1 + y2 * d2 + y3 * d3 + y4 * d4);
        work[(long long)t * lines + line] = y;
        x3 = x2; x2 = x1; x1 = x;
        y4 = y3; y3 = y2; y2 = y1; y1 = y;
    }
    // anticausal: x1..x4 the next inputs, y1..y4 the next outputs
    v = (double)sep3d_load<T, MODE>(s, inner, m - 1 - ext, n, cval);
    x1 = v; x2 = v; x3 = v;
    double x4 = v;
    steady = v * sm - v * bm;
    y1 = steady; y2 = steady; y3 = steady; y4 = steady;
    for (int t = m - 1; t >= 0; --t) {
        double y = (x1 * m1 + x2 * m2 + x3 * m3 + x4 * m4) - (y1 * d1 + y2 * d2 + y3 * d3 + y4 * d4);
        double x = (double)sep3d_load<T, MODE>(s, inner, t - ext, n, cval);
        int i = t - ext;
        double total = work[(long long)t * lines + line] + y;
        x4 = x3; x3 = x2; x2 = x1; x1 = x;
        y4 = y3; y3 = y2; y2 = y1; y1 = y;
        if (i >= 0 && i < n) sep3d_store(d + (long long)i * inner, (T)total, store, scale, T(1));
    }
}

// Every term of a plan over the last three axes (z, y, x) in one sweep: a 2.5-D tile.
// A block owns a TX x TY column of outputs (one per thread) and marches along z over
// `z_chunk` output planes. Per input plane it loads the (TY + y halo) x (TX + x halo)
// tile into shared memory once (boundary remapped at load), applies each x filter into
// shared memory, each needed (y filter, x filter) pair into registers, and pushes that
// value into a per-pair register queue of the last KZ planes; the z filters then run on
// the queues and every output of the plan is written for the plane KZ - 1 - hzl behind.
// One read of the input and one write per output: a Gaussian, a LoG (three terms), the
// gradient components or a wavelet level (eight sub-bands) move 1 + n_outputs volumes.
//
// Up to F3_MAXF filters per axis (x and y taps <= F3_MAXT, z window KZ <= F3_MAXZ),
// NP <= F3_MAXP (y, x) pairs, F3_MAXTERMS terms sorted by output. Constant mode only with
// cval 0 (the engine keeps cval != 0 on the per-axis path, where the pass order matters).
//
// meta (int): see F3_* offsets. coef (T): x taps, y taps, z taps padded to the z window,
// term scales. outs: one pointer per output (with the sqrt-sum-of-squares combine, one).
// Grid: x over tiles of x, y over tiles of y, z over (z chunk, batch) pairs.
// Dynamic shared memory: F3_COEF + rows * cols + n_fx * rows * TX elements, where
// rows = TY + hyl + hyr and cols = TX + hxl + hxr.

#define F3_MAXF 3
#define F3_MAXT 33
#define F3_MAXZ 17
#define F3_MAXP 4
#define F3_MAXTERMS 8
// coef offsets
#define F3_X 0
#define F3_Y (F3_MAXF * F3_MAXT)
#define F3_Z (2 * F3_MAXF * F3_MAXT)
#define F3_SCALE (F3_Z + F3_MAXF * F3_MAXZ)
#define F3_COEF (F3_SCALE + F3_MAXTERMS)
// meta offsets
#define F3_NZ 0
#define F3_NY 1
#define F3_NX 2
#define F3_ZCHUNK 3
#define F3_NZCHUNKS 4
#define F3_HZL 5
#define F3_HYL 6
#define F3_HYR 7
#define F3_HXL 8
#define F3_HXR 9
#define F3_NFX 10
#define F3_NTERMS 11
#define F3_NOUT 12
#define F3_SQRT 13
#define F3_FX_LEFT 16
#define F3_FX_SIZE (F3_FX_LEFT + F3_MAXF)
#define F3_FY_LEFT (F3_FX_SIZE + F3_MAXF)
#define F3_FY_SIZE (F3_FY_LEFT + F3_MAXF)
#define F3_PAIR_FY (F3_FY_SIZE + F3_MAXF)
#define F3_PAIR_FX (F3_PAIR_FY + F3_MAXP)
#define F3_TERM_FZ (F3_PAIR_FX + F3_MAXP)
#define F3_TERM_PAIR (F3_TERM_FZ + F3_MAXTERMS)
#define F3_TERM_OUT (F3_TERM_PAIR + F3_MAXTERMS)
#define F3_META (F3_TERM_OUT + F3_MAXTERMS)

template <typename T, int MODE, int KZ, int NP>
__global__ void fused3d(const T* __restrict__ src, T* const* __restrict__ outs,
                        const int* __restrict__ meta, const T* __restrict__ coef, long long batch) {
    SEP3D_DYNAMIC_SHARED(T, smem);
    const int nz = meta[F3_NZ], ny = meta[F3_NY], nx = meta[F3_NX];
    const int z_chunk = meta[F3_ZCHUNK], n_zchunks = meta[F3_NZCHUNKS];
    const int hzl = meta[F3_HZL], hzr = KZ - 1 - hzl;
    const int hyl = meta[F3_HYL], hyr = meta[F3_HYR], hxl = meta[F3_HXL], hxr = meta[F3_HXR];
    const int n_fx = meta[F3_NFX], n_terms = meta[F3_NTERMS], n_out = meta[F3_NOUT];
    const bool sqrt_combine = meta[F3_SQRT] != 0;
    const int TX = blockDim.x, TY = blockDim.y;
    const int rows = TY + hyl + hyr, cols = TX + hxl + hxr;
    const int tid = threadIdx.y * TX + threadIdx.x, n_threads = TX * TY;

    T* c = smem;
    T* tile = c + F3_COEF;
    T* xbuf = tile + rows * cols;
    for (int k = tid; k < F3_COEF; k += n_threads) c[k] = coef[k];

    const int x0 = blockIdx.x * TX, y0 = blockIdx.y * TY;
    const int x = x0 + threadIdx.x, y = y0 + threadIdx.y;
    const int z_begin = (blockIdx.z % n_zchunks) * z_chunk;
    const int z_end = min(nz, z_begin + z_chunk);
    const long long plane = (long long)ny * nx, volume = plane * nz;
    const long long b_step = gridDim.z / n_zchunks;

    for (long long b = blockIdx.z / n_zchunks; b < batch; b += b_step) {
        const T* s = src + b * volume;
        T q[NP][KZ];
#pragma unroll
        for (int p = 0; p < NP; ++p)
#pragma unroll
            for (int j = 0; j < KZ; ++j) q[p][j] = T(0);

        for (int zi = z_begin - hzl; zi < z_end + hzr; ++zi) {
            // 1. the input tile of this plane, boundary remapped once at load
            const int zs = sep3d_remap<MODE>(zi, nz);
            for (int k = tid; k < rows * cols; k += n_threads) {
                const int ty = k / cols, tx = k - ty * cols;
                T v = T(0);
                if (zs >= 0) {
                    const int yy = sep3d_remap<MODE>(y0 - hyl + ty, ny);
                    const int xx = sep3d_remap<MODE>(x0 - hxl + tx, nx);
                    if (yy >= 0 && xx >= 0) v = s[zs * plane + (long long)yy * nx + xx];
                }
                tile[k] = v;
            }
            __syncthreads();
            // 2. every x filter over the tile rows (the y halo included), into shared memory
            for (int k = tid; k < n_fx * rows * TX; k += n_threads) {
                const int f = k / (rows * TX);
                const int rem = k - f * rows * TX;
                const int row = rem / TX, tx = rem - row * TX;
                const T* w = c + F3_X + f * F3_MAXT;
                const T* t = tile + row * cols + tx + hxl - meta[F3_FX_LEFT + f];
                const int size = meta[F3_FX_SIZE + f];
                T acc = T(0);
                for (int j = 0; j < size; ++j) acc = fma(w[j], t[j], acc);
                xbuf[k] = acc;
            }
            __syncthreads();
            // 3. each (y filter, x filter) pair at this thread's output, into its z queue
#pragma unroll
            for (int p = 0; p < NP; ++p) {
                const int fy = meta[F3_PAIR_FY + p], fx = meta[F3_PAIR_FX + p];
                const T* w = c + F3_Y + fy * F3_MAXT;
                const T* col = xbuf + (fx * rows + threadIdx.y + hyl - meta[F3_FY_LEFT + fy]) * TX + threadIdx.x;
                const int size = meta[F3_FY_SIZE + fy];
                T acc = T(0);
                for (int j = 0; j < size; ++j) acc = fma(w[j], col[j * TX], acc);
#pragma unroll
                for (int j = 0; j < KZ - 1; ++j) q[p][j] = q[p][j + 1];
                q[p][KZ - 1] = acc;
            }
            // 4. the z filters on the queues: every output of plane zi - hzr
            const int zo = zi - hzr;
            if (zo >= z_begin && x < nx && y < ny) {
                const long long idx = b * volume + zo * plane + (long long)y * nx + x;
                T total = T(0);
                int t = 0;
                for (int o = 0; o < n_out; ++o) {
                    T v = T(0);
                    for (; t < n_terms && meta[F3_TERM_OUT + t] == o; ++t) {
                        const int pair = meta[F3_TERM_PAIR + t];
                        const T* wz = c + F3_Z + meta[F3_TERM_FZ + t] * F3_MAXZ;
                        T sz = T(0);
#pragma unroll
                        for (int p = 0; p < NP; ++p) {
                            if (p == pair) {
#pragma unroll
                                for (int j = 0; j < KZ; ++j) sz = fma(wz[j], q[p][j], sz);
                            }
                        }
                        v = fma(c[F3_SCALE + t], sz, v);
                    }
                    if (sqrt_combine) total = fma(v, v, total);
                    else outs[o][idx] = v;
                }
                if (sqrt_combine) outs[0][idx] = sqrt(total);
            }
            __syncthreads();  // the next plane's tile overwrites shared memory
        }
    }
}

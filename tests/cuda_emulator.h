// A CPU emulation of the CUDA execution model, enough to run sep3d's kernel sources
// unchanged: every thread of a block is a fiber (ucontext) with its own stack, and
// __syncthreads() switches back to the scheduler, which resumes every live thread of the
// block in turn (forward or reversed order, to expose a missing barrier) until all have
// returned. Blocks run one after another. Dynamic shared memory is one buffer per
// launch, filled with NaN bytes so that a read before a write shows up.
#pragma once
#define SEP3D_EMULATION 1
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <ucontext.h>
#include <vector>

using std::fma;
using std::max;
using std::min;
using std::sqrt;

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };

static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;
static unsigned char* emu_shared = nullptr;

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define SEP3D_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(emu_shared)
template <class T> inline T __ldg(const T* p) { return *p; }

namespace emu {
static ucontext_t scheduler;
static std::vector<ucontext_t> fibers;
static std::vector<int> finished;
static std::vector<long> barriers;
static std::vector<char> stacks;
static const size_t stack_bytes = 256 * 1024;
static int current = 0;
static std::function<void()> body;

static void run_fiber(int i) {
    body();
    finished[i] = 1;
}
}  // namespace emu

inline void __syncthreads() {
    emu::barriers[emu::current] += 1;
    swapcontext(&emu::fibers[emu::current], &emu::scheduler);
}

// Run `kernel` on every thread of every block; returns 0, or 1 when the threads of a
// block reached different numbers of barriers (a divergent __syncthreads).
inline int emu_launch(dim3 grid, dim3 block, size_t shared_bytes, int reverse, std::function<void()> kernel) {
    gridDim = grid;
    blockDim = block;
    const int n = block.x * block.y * block.z;
    std::vector<unsigned char> shared(shared_bytes + 16, 0xFF);
    emu_shared = shared.data();
    emu::fibers.assign(n, ucontext_t());
    emu::finished.assign(n, 0);
    emu::barriers.assign(n, 0);
    if (emu::stacks.size() < n * emu::stack_bytes) emu::stacks.resize(n * emu::stack_bytes);
    emu::body = kernel;
    int status = 0;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = {bx, by, bz};
                for (int i = 0; i < n; ++i) {
                    getcontext(&emu::fibers[i]);
                    emu::fibers[i].uc_stack.ss_sp = emu::stacks.data() + i * emu::stack_bytes;
                    emu::fibers[i].uc_stack.ss_size = emu::stack_bytes;
                    emu::fibers[i].uc_link = &emu::scheduler;
                    makecontext(&emu::fibers[i], (void (*)())emu::run_fiber, 1, i);
                    emu::finished[i] = 0;
                    emu::barriers[i] = 0;
                }
                bool live = true;
                while (live) {
                    live = false;
                    for (int k = 0; k < n; ++k) {
                        int i = reverse ? n - 1 - k : k;
                        if (emu::finished[i]) continue;
                        emu::current = i;
                        threadIdx = {unsigned(i % block.x), unsigned((i / block.x) % block.y),
                                     unsigned(i / (block.x * block.y))};
                        swapcontext(&emu::scheduler, &emu::fibers[i]);
                        if (!emu::finished[i]) live = true;
                    }
                    // every thread still running must be waiting at the same barrier
                    long expected = -1;
                    for (int i = 0; i < n; ++i) {
                        if (emu::finished[i]) continue;
                        if (expected < 0) expected = emu::barriers[i];
                        else if (emu::barriers[i] != expected) status = 1;
                    }
                }
            }
    emu_shared = nullptr;
    return status;
}

"""Recursive (IIR) passes: second-order sections over panels of columns, in LLVM vector IR.

A recursive operator runs as four second-order sections over a panel of columns (lines
along the contiguous axis are transposed into it by tiles of vectors first), each started
from its exact state before the edge (:func:`_section_boundaries`), so no mode extends
the lines. The recursion and the tile transposes are written as LLVM vector IR
(:func:`_strip_sections`, :func:`_transpose_tile`): Numba vectorises only innermost loops,
and a recursion wants the columns as vector lanes with the row loop innermost and its
states in registers. Operators without sections run as a direct-form recursion per panel
(:func:`run_recursive_pass`).
"""
from __future__ import annotations

import functools

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..._validate import Mode
from ...kernels import section_response
from ...plan import WRITE
from .. import threads as thread_pool
from ..common import boundary_index, recursive_extension
from ..threads import get_num_threads
from .panels import load_panel, store_row

__all__ = ["run_sections_pass", "run_recursive_pass", "iir_compute_dtype", "IIR_FLOAT32_ERROR"]


#: float32 data recurses in float32 sections while the operator's rounding bound
#: (:attr:`~sep3d.kernels.IIR.float32_error`) stays below this fraction of the data's
#: scale -- a twentieth or less of Deriche's own approximation error (~2e-4 of the peak
#: for the smoothing kernel) -- and in float64 beyond (wide sigmas).
IIR_FLOAT32_ERROR = 2e-5

@njit(cache=True, nogil=True, fastmath={"contract"})
def _recursive_columns(panel, fwd, back, c, width):
    """The IIR `c` down the columns ``[:width]`` of `panel` (float64, one extended line per column).

    `fwd` gets the causal and `back` the anticausal part; each recursion starts in the
    steady state of a constant extension by the edge sample (ITK's boundary coefficients).
    Two-index loads on a few arrays (not row views) keep the column loops vectorised.
    """
    m = panel.shape[0]
    n0, n1, n2, n3 = c[0], c[1], c[2], c[3]
    d1, d2, d3, d4 = c[4], c[5], c[6], c[7]
    m1, m2, m3, m4 = c[8], c[9], c[10], c[11]
    bn1, bn2, bn3, bn4 = c[12], c[13], c[14], c[15]
    bm1, bm2, bm3, bm4 = c[16], c[17], c[18], c[19]
    for b in range(width):  # the first four outputs: the edge value stands in before the line
        v = panel[0, b]
        a0 = v * n0 + v * n1 + v * n2 + v * n3 - (v * bn1 + v * bn2 + v * bn3 + v * bn4)
        a1 = panel[1, b] * n0 + v * n1 + v * n2 + v * n3 - (a0 * d1 + v * bn2 + v * bn3 + v * bn4)
        a2 = panel[2, b] * n0 + panel[1, b] * n1 + v * n2 + v * n3 - (a1 * d1 + a0 * d2 + v * bn3 + v * bn4)
        a3 = (panel[3, b] * n0 + panel[2, b] * n1 + panel[1, b] * n2 + v * n3
              - (a2 * d1 + a1 * d2 + a0 * d3 + v * bn4))
        fwd[0, b] = a0
        fwd[1, b] = a1
        fwd[2, b] = a2
        fwd[3, b] = a3
    for t in range(4, m):
        t1, t2, t3, t4 = t - 1, t - 2, t - 3, t - 4
        for b in range(width):
            fwd[t, b] = ((panel[t, b] * n0 + panel[t1, b] * n1 + panel[t2, b] * n2 + panel[t3, b] * n3)
                         - (fwd[t1, b] * d1 + fwd[t2, b] * d2 + fwd[t3, b] * d3 + fwd[t4, b] * d4))
    e = m - 1
    for b in range(width):  # anticausal, from the far end
        v = panel[e, b]
        a0 = v * m1 + v * m2 + v * m3 + v * m4 - (v * bm1 + v * bm2 + v * bm3 + v * bm4)
        a1 = v * m1 + v * m2 + v * m3 + v * m4 - (a0 * d1 + v * bm2 + v * bm3 + v * bm4)
        a2 = panel[e - 1, b] * m1 + v * m2 + v * m3 + v * m4 - (a1 * d1 + a0 * d2 + v * bm3 + v * bm4)
        a3 = (panel[e - 2, b] * m1 + panel[e - 1, b] * m2 + v * m3 + v * m4
              - (a2 * d1 + a1 * d2 + a0 * d3 + v * bm4))
        back[e, b] = a0
        back[e - 1, b] = a1
        back[e - 2, b] = a2
        back[e - 3, b] = a3
    for t in range(m - 5, -1, -1):
        t1, t2, t3, t4 = t + 1, t + 2, t + 3, t + 4
        for b in range(width):
            back[t, b] = ((panel[t1, b] * m1 + panel[t2, b] * m2 + panel[t3, b] * m3 + panel[t4, b] * m4)
                          - (back[t1, b] * d1 + back[t2, b] * d2 + back[t3, b] * d3 + back[t4, b] * d4))

@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_recursive(src, dst, c, idx, ext, cval, store, scale, block, start, stop):
    """An IIR along the middle axis of (outer, n, inner) views, panels start..stop.

    Panel ``task`` covers columns ``(task % n_blocks) * block`` onwards of slab
    ``task // n_blocks``. The views may be strided (a line axis that is contiguous in
    memory is seen as (1, n, lines)). In place is allowed (a panel is read whole first).
    """
    _, n, inner = src.shape
    m = idx.shape[0]
    n_blocks = (inner + block - 1) // block
    panel = np.empty((m, block), np.float64)
    fwd = np.empty((m, block), np.float64)
    back = np.empty((m, block), np.float64)
    row = np.empty(block, np.float64)
    for task in range(start, stop):
        o = task // n_blocks
        b0 = (task % n_blocks) * block
        width = min(block, inner - b0)
        load_panel(panel, src, o, idx, b0, width, cval)
        _recursive_columns(panel, fwd, back, c, width)
        for i in range(n):
            t = ext + i
            for b in range(width):
                row[b] = fwd[t, b] + back[t, b]
            store_row(dst[o, i, b0:b0 + width], row, width, store, scale, 1.0)

#: Vectors of a strip of the recursion (its columns: 4 x 8 float32 or 4 x 4 float64):
#: sixteen independent chains hide the latency of the feedback multiply-adds, and the
#: states of the four sections (20 vectors) still fit in the registers.
STRIP_VECTORS = 4

#: Bytes of one vector (AVX2): the strip is ``STRIP_VECTORS * VECTOR_BYTES`` bytes wide.
VECTOR_BYTES = 32

#: Row stride (bytes) up to which the strips of a pass read the source and write the
#: destination directly rather than through a panel (256^3 float32, sigma 16: writing
#: 1 KB rows directly 21 -> 19 ms a pass, 256 KB rows 26 -> 33 ms).
DIRECT_ROW_BYTES = 4096

def strip_width(dtype):
    """Columns of one strip of :func:`_strip_sections` for `dtype` (32 float32, 16 float64)."""
    return STRIP_VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize

def _strip_codegen(reflected):
    """The code of :func:`_strip_sections` (``reflected``: of :func:`_strip_sections_reflected`)."""

    def codegen(context, builder, signature, args):
        float_type = context.get_value_type(signature.args[0].dtype)
        lanes = VECTOR_BYTES * 8 // signature.args[0].dtype.bitwidth
        vec = ir.VectorType(float_type, lanes)
        i64 = ir.IntType(64)
        arrays = [context.make_array(ty)(context, builder, value)
                  for ty, value in zip(signature.args[:4], args[:4])]
        data = [a.data for a in arrays]
        rows = [cgutils.unpack_tuple(builder, a.strides)[0] for a in arrays]  # bytes per row
        n = cgutils.unpack_tuple(builder, arrays[0].shape)[0]
        item = signature.args[0].dtype.bitwidth // 8
        start = builder.mul(args[4], ir.Constant(i64, item))  # bytes to column b0 (C: its own column 0)
        out_type = context.get_value_type(signature.args[1].dtype)
        out_item = signature.args[1].dtype.bitwidth // 8
        out_vec = ir.VectorType(out_type, lanes)
        out_start = builder.mul(args[6], ir.Constant(i64, out_item))
        factor = context.cast(builder, args[7], signature.args[7], signature.args[0].dtype)

        def address(a, row, k):  # P from column b0; C and S from their column 0
            col = ir.Constant(i64, k * VECTOR_BYTES)
            offset = builder.add(builder.mul(row, rows[a]), builder.add(start, col) if a == 0 else col)
            raw = builder.gep(builder.bitcast(data[a], ir.IntType(8).as_pointer()), [offset])
            return builder.bitcast(raw, vec.as_pointer())

        def store_out(row, k, value):  # D[row, d0 + k * lanes ...] = scale * value, in D's dtype
            value = builder.fmul(splat(factor), value)
            if out_type != float_type:
                widen = out_item > item
                value = (builder.fpext if widen else builder.fptrunc)(value, out_vec)
            col = ir.Constant(i64, k * lanes * out_item)
            offset = builder.add(builder.mul(row, rows[1]), builder.add(out_start, col))
            raw = builder.gep(builder.bitcast(data[1], ir.IntType(8).as_pointer()), [offset])
            builder.store(value, builder.bitcast(raw, out_vec.as_pointer()), align=out_item)

        def load(a, row, k):
            return builder.load(address(a, row, k), align=item)

        def store(a, row, k, value):
            builder.store(value, address(a, row, k), align=item)

        def splat(value):
            one = builder.insert_element(ir.Constant(vec, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
            mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined), mask)

        def add(a, b):
            return builder.fadd(a, b, flags=("contract",))

        def mul(a, b):
            return builder.fmul(a, b, flags=("contract",))

        def section(c, x, x_prev, y1, y2):  # (p0 x + p1 x_prev) - (a1 y1 + a2 y2)
            return builder.fsub(add(mul(c[0], x), mul(c[1], x_prev)), add(mul(c[2], y1), mul(c[3], y2)),
                                flags=("contract",))

        coef_ptr = context.make_array(signature.args[5])(context, builder, args[5]).data
        coef = [[splat(builder.load(builder.gep(coef_ptr, [ir.Constant(i64, 4 * s + j)]))) for j in range(4)]
                for s in range(4)]

        def state(row):  # a register (alloca, promoted by LLVM) per vector, from row `row` of S
            slots = []
            for k in range(STRIP_VECTORS):
                slot = cgutils.alloca_once(builder, vec)
                builder.store(load(3, ir.Constant(i64, row), k), slot)
                slots.append(slot)
            return slots

        def step(first, second, t, x_of, out_of):
            """One row of a pair of sections on every vector: y = first + second."""
            for k in range(STRIP_VECTORS):
                x = x_of(k)
                xp = builder.load(xs[k])
                u1, u2, v1, v2 = (builder.load(slot[k]) for slot in (ys[0], ys[1], ys[2], ys[3]))
                u = section(first, x, xp, u1, u2)
                v = section(second, x, xp, v1, v2)
                out_of(k, add(u, v))
                builder.store(u1, ys[1][k])
                builder.store(u, ys[0][k])
                builder.store(v1, ys[3][k])
                builder.store(v, ys[2][k])
                builder.store(x, xs[k])

        if not reflected:
            # causal: x[t], t = 0 .. n - 1, into C
            ys = [state(0), state(1), state(2), state(3)]
            xs = state(8)

            def causal_x(t, k):  # x[t] from P, kept in C's second half for the way back
                x = load(0, t, k)
                store(2, t, k + STRIP_VECTORS, x)
                return x

            with cgutils.for_range(builder, n) as loop:
                t = loop.index
                step(coef[0], coef[1], t, lambda k: causal_x(t, k), lambda k, y: store(2, t, k, y))
            # anticausal: x[t + 1], t = n - 1 .. 0; D[t] = C[t] + both
            ys = [state(4), state(5), state(6), state(7)]
            xs = state(9)
            last = builder.sub(n, ir.Constant(i64, 1))
            step(coef[2], coef[3], last, lambda k: load(3, ir.Constant(i64, 10), k),
                 lambda k, y: store_out(last, k, add(load(2, last, k), y)))
            with cgutils.for_range(builder, last) as loop:
                t = builder.sub(builder.sub(last, ir.Constant(i64, 1)), loop.index)
                t1 = builder.add(t, ir.Constant(i64, 1))
                step(coef[2], coef[3], t, lambda k: load(2, t1, k + STRIP_VECTORS),
                     lambda k, y: store_out(t, k, add(load(2, t, k), y)))
            return context.get_dummy_value()
        # reflected: the anticausal pair first (x[t + 1] from P, t = n - 1 .. 0), into C
        ys = [state(4), state(5), state(6), state(7)]
        xs = state(9)
        last = builder.sub(n, ir.Constant(i64, 1))
        step(coef[2], coef[3], last, lambda k: load(3, ir.Constant(i64, 10), k), lambda k, y: store(2, last, k, y))
        with cgutils.for_range(builder, last) as loop:
            t = builder.sub(builder.sub(last, ir.Constant(i64, 1)), loop.index)
            t1 = builder.add(t, ir.Constant(i64, 1))
            step(coef[2], coef[3], t, lambda k: load(0, t1, k), lambda k, y: store(2, t, k, y))
        # the causal starts: Y_s[-1 - j] = p0_s x[j] + sign A_{s+2}[j], j = 0, 1 (the
        # anticausal outputs at rows 0 and 1 are the last two states of the pass above)
        sign = splat(context.cast(builder, args[8], signature.args[8], signature.args[0].dtype))
        anti = [[builder.load(ys[2 * s + j][k]) for k in range(STRIP_VECTORS)] for s in range(2) for j in range(2)]
        xs0 = [load(0, ir.Constant(i64, 0), k) for k in range(STRIP_VECTORS)]
        xs1 = [load(0, ir.Constant(i64, 1), k) for k in range(STRIP_VECTORS)]
        causal = []
        for s in range(2):
            for j, xj in enumerate((xs0, xs1)):
                slots = []
                for k in range(STRIP_VECTORS):
                    slot = cgutils.alloca_once(builder, vec)
                    builder.store(add(mul(coef[s][0], xj[k]), mul(sign, anti[2 * s + j][k])), slot)
                    slots.append(slot)
                causal.append(slots)
        ys = causal
        xs = state(8)
        with cgutils.for_range(builder, n) as loop:
            t = loop.index
            step(coef[0], coef[1], t, lambda k: load(0, t, k), lambda k, y: store_out(t, k, add(load(2, t, k), y)))
        return context.get_dummy_value()

    return codegen

@intrinsic
def _strip_sections(typingctx, P, D, C, S, b0, sec, d0, scale):
    """The four sections over one strip of a panel, their states in vector registers.

    Columns ``b0 .. b0 + strip_width`` of ``P`` (n rows, row t = x[t]; a panel or the
    source itself): the two causal sections run down the rows, writing their sum and x[t]
    into the scratch ``C`` (n, 2 x strip_width), then the two anticausal ones up the rows
    on x[t + 1] (read back from C, so that D may be P), and ``D[t]`` (columns from ``d0``;
    any float dtype, any row stride: a panel or the destination) gets `scale` x all four.
    ``S`` (11, strip_width) holds the strip's starts: rows 2s, 2s + 1 = Y[-1], Y[-2] of
    section s (0, 1 causal; 2, 3 anticausal, in their own order), row 8 = x[-1],
    9 = x[n + 1], 10 = x[n]; ``sec`` is
    (4, 4) ``[p0, p1, a1, a2]``. Written in LLVM vector IR because Numba vectorises only
    innermost loops: a loop over the rows with the columns as vector lanes keeps every
    state in a register, where the row-by-row form reloads four rows per section.
    """
    if any(a.dtype != P.dtype for a in (C, S, sec)) or not isinstance(D.dtype, types.Float):
        return None  # one dtype for the panel, the scratch, the states and the coefficients
    sig = types.void(P, D, C, S, types.intp, sec, types.intp, scale)

    return sig, _strip_codegen(False)

@intrinsic
def _strip_sections_reflected(typingctx, P, D, C, S, b0, sec, d0, scale, sign):
    """:func:`_strip_sections` for the ``reflect`` mode of an operator whose anticausal
    sections mirror its causal ones (``IIR.mirror_sign``): the anticausal pair runs
    first, from its starts in S, and the causal starts follow from its outputs at rows 0
    and 1 -- with the extension mirrored about -1/2, ``Y_s[-1 - j] = p0_s x[j] + sign
    A_{s+2}[j]`` -- instead of dot products over the reach. n >= 2. The causal pass
    writes D[t] right after reading x[t], so D may be P.
    """
    if any(a.dtype != P.dtype for a in (C, S, sec)) or not isinstance(D.dtype, types.Float):
        return None
    sig = types.void(P, D, C, S, types.intp, sec, types.intp, scale, sign)
    return sig, _strip_codegen(True)

def _transpose_network(builder, rows):
    """The columns of a square tile of vectors (8 float32 or 4 float64) as vectors:
    AVX's unpack / shuffle / 128-bit-lane permute network, as LLVM shuffles."""
    lanes = len(rows)

    def shuffle(a, b, mask):
        return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), lanes), mask))

    if lanes == 4:
        lo, hi = [0, 4, 2, 6], [1, 5, 3, 7]
        t = [shuffle(rows[0], rows[1], lo), shuffle(rows[0], rows[1], hi),
             shuffle(rows[2], rows[3], lo), shuffle(rows[2], rows[3], hi)]
        low, high = [0, 1, 4, 5], [2, 3, 6, 7]
        return [shuffle(t[0], t[2], low), shuffle(t[1], t[3], low), shuffle(t[0], t[2], high),
                shuffle(t[1], t[3], high)]
    lo, hi = [0, 8, 1, 9, 4, 12, 5, 13], [2, 10, 3, 11, 6, 14, 7, 15]
    t = []
    for i in range(0, 8, 2):
        t += [shuffle(rows[i], rows[i + 1], lo), shuffle(rows[i], rows[i + 1], hi)]
    even, odd = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
    u = []
    for g in (0, 4):
        u += [shuffle(t[g], t[g + 2], even), shuffle(t[g], t[g + 2], odd),
              shuffle(t[g + 1], t[g + 3], even), shuffle(t[g + 1], t[g + 3], odd)]
    low, high = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
    return ([shuffle(u[j], u[j + 4], low) for j in range(4)] + [shuffle(u[j], u[j + 4], high) for j in range(4)])

@intrinsic
def _transpose_tile(typingctx, A, B, a_row, a_col, b_row, b_col, scale):
    """``B[b_row + j, b_col + i] = scale * A[a_row + i, a_col + j]`` over one square tile
    of one vector of A's dtype (8 x 8 float32, 4 x 4 float64): one vector load per row,
    the shuffle network, one vector store per column (converted to B's dtype). A and B
    are 2-D with unit column stride; the tile must lie inside both."""
    sig = types.void(A, B, types.intp, types.intp, types.intp, types.intp, scale)

    def codegen(context, builder, signature, args):
        item = signature.args[0].dtype.bitwidth // 8
        lanes = VECTOR_BYTES // item
        vec = ir.VectorType(context.get_value_type(signature.args[0].dtype), lanes)
        i64 = ir.IntType(64)
        arrays = [context.make_array(ty)(context, builder, value) for ty, value in zip(signature.args[:2], args[:2])]

        def address(a, row, col):
            stride = cgutils.unpack_tuple(builder, arrays[a].strides)[0]
            size = signature.args[a].dtype.bitwidth // 8
            offset = builder.add(builder.mul(row, stride), builder.mul(col, ir.Constant(i64, size)))
            raw = builder.gep(builder.bitcast(arrays[a].data, ir.IntType(8).as_pointer()), [offset])
            return builder.bitcast(raw, vec.as_pointer())

        rows = [builder.load(address(0, builder.add(args[2], ir.Constant(i64, i)), args[3]), align=item)
                for i in range(lanes)]
        value = context.cast(builder, args[6], signature.args[6], signature.args[0].dtype)
        one = builder.insert_element(ir.Constant(vec, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
        factor = builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined),
                                        ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
        target = context.get_value_type(signature.args[1].dtype)
        out = ir.VectorType(target, lanes)
        for j, column in enumerate(_transpose_network(builder, rows)):
            value = builder.fmul(factor, column)
            if target != vec.element:  # float32 <-> float64: the tile's size follows A
                widen = signature.args[1].dtype.bitwidth > signature.args[0].dtype.bitwidth
                value = (builder.fpext if widen else builder.fptrunc)(value, out)
            pointer = builder.bitcast(address(1, builder.add(args[4], ir.Constant(i64, j)), args[5]), out.as_pointer())
            builder.store(value, pointer, align=signature.args[1].dtype.bitwidth // 8)
        return context.get_dummy_value()

    return sig, codegen

@njit(cache=True, nogil=True)
def _transpose_block(A, B, a_row, a_col, b_row, b_col, rows, cols, scale, tile):
    """``B[b_row + j, b_col + i] = scale * A[a_row + i, a_col + j]``, i < rows, j < cols:
    whole tiles by :func:`_transpose_tile` (`tile`: lanes of one vector of A's dtype),
    the edges element by element."""
    full_r = rows // tile * tile
    full_c = cols // tile * tile
    for i0 in range(0, full_r, tile):
        for j0 in range(0, full_c, tile):
            _transpose_tile(A, B, a_row + i0, a_col + j0, b_row + j0, b_col + i0, scale)
    for i in range(rows):
        src = A[a_row + i]
        for j in range(full_c if i < full_r else 0, cols):
            B[b_row + j, b_col + i] = scale * src[a_col + j]

@intrinsic
def _strip_states(typingctx, P, S, b0, weights, lo, hi, first, constant):
    """Four section starts over one strip: ``S[first + j] = constant[first + j] + sum_r
    weights[r, first + j] * P[r]``, rows ``lo <= r < hi``, j < 4, columns ``b0 ..
    b0 + strip_width`` of P (S: the strip's own, from column 0). Each row of the strip is loaded once for the four states, whose
    sixteen accumulators stay in registers (`weights`: (n, 8), the dense form of
    :func:`_section_boundaries`)."""
    if any(a.dtype != P.dtype for a in (S, weights, constant)):
        return None
    sig = types.void(P, S, types.intp, weights, types.intp, types.intp, types.intp, constant)

    def codegen(context, builder, signature, args):
        item = signature.args[0].dtype.bitwidth // 8
        lanes = VECTOR_BYTES // item
        vec = ir.VectorType(context.get_value_type(signature.args[0].dtype), lanes)
        i64 = ir.IntType(64)
        P_a, S_a, W_a, c_a = (context.make_array(signature.args[i])(context, builder, args[i]) for i in (0, 1, 3, 7))
        b0, lo, hi, first = args[2], args[4], args[5], args[6]

        def vector_at(array, row, k, first_col):
            stride = cgutils.unpack_tuple(builder, array.strides)[0]
            col = builder.mul(builder.add(first_col, ir.Constant(i64, k * lanes)), ir.Constant(i64, item))
            raw = builder.gep(builder.bitcast(array.data, ir.IntType(8).as_pointer()),
                              [builder.add(builder.mul(row, stride), col)])
            return builder.bitcast(raw, vec.as_pointer())

        def splat(value):
            one = builder.insert_element(ir.Constant(vec, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined),
                                          ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))

        def scalar(array, index):
            return builder.load(builder.gep(array.data, [index]))

        acc = []
        for j in range(4):
            start = splat(scalar(c_a, builder.add(first, ir.Constant(i64, j))))
            row = []
            for k in range(STRIP_VECTORS):
                slot = cgutils.alloca_once(builder, vec)
                builder.store(start, slot)
                row.append(slot)
            acc.append(row)
        with cgutils.for_range_slice(builder, lo, hi, ir.Constant(i64, 1)) as (r, _):
            xs = [builder.load(vector_at(P_a, r, k, b0), align=item) for k in range(STRIP_VECTORS)]
            base = builder.add(builder.mul(r, ir.Constant(i64, 8)), first)
            for j in range(4):
                w = splat(scalar(W_a, builder.add(base, ir.Constant(i64, j))))
                for k in range(STRIP_VECTORS):
                    total = builder.fadd(builder.load(acc[j][k]), builder.fmul(w, xs[k], flags=("contract",)),
                                         flags=("contract",))
                    builder.store(total, acc[j][k])
        for j in range(4):
            target = builder.add(first, ir.Constant(i64, j))
            for k in range(STRIP_VECTORS):
                builder.store(builder.load(acc[j][k]), vector_at(S_a, target, k, ir.Constant(i64, 0)), align=item)
        return context.get_dummy_value()

    return sig, codegen

@njit(cache=True, nogil=True, fastmath={"contract"})
def _edge_strip(out, P, j, b0, cval, strip):
    """Columns ``b0 .. b0 + strip`` of row ``j`` of P (or `cval` where j is -1) into `out`."""
    if j >= 0:
        row = P[j, b0:b0 + strip]
        for b in range(strip):
            out[b] = row[b]
    else:
        for b in range(strip):
            out[b] = cval

@njit(cache=True, nogil=True, fastmath={"contract"})
def _sections_panel(P, p0, D, C, S, sec, weights, spans, constant, edges, cval, width, strip, out, o0, scale,
                    direct, sign):
    """The IIR as four sections over columns ``p0 .. p0 + width`` of P, strip by strip.

    P holds the lines down its rows (a panel, padded with zeros to whole strips, or the
    source itself when `width` is whole strips). Each strip gets its starts in S
    (:func:`_strip_states` over the rows ``spans[g]`` of the causal and the anticausal
    group, and the edge rows: `edges` = the source rows of x[-1], x[n], x[n + 1], -1 for
    `cval`), then :func:`_strip_sections`. The strips within the first `direct` columns
    (whole strips) write `scale` x the output straight into `out` (columns from `o0`);
    the others write ``D[:, b]`` for column ``p0 + b``, unscaled. A non-zero `sign`
    (``reflect`` and ``IIR.mirror_sign``) starts the causal sections from the anticausal
    outputs (:func:`_strip_sections_reflected`) and computes only the anticausal starts.
    """
    for b in range(0, width, strip):
        b0 = p0 + b
        _edge_strip(S[8], P, edges[0], b0, cval, strip)  # x[-1]
        _edge_strip(S[10], P, edges[1], b0, cval, strip)  # x[n]
        _edge_strip(S[9], P, edges[2], b0, cval, strip)  # x[n + 1]
        _strip_states(P, S, b0, weights, spans[1, 0], spans[1, 1], 4, constant)
        if sign != 0:
            if b + strip <= direct:
                _strip_sections_reflected(P, out, C, S, b0, sec, o0 + b, scale, sign)
            else:
                _strip_sections_reflected(P, D, C, S, b0, sec, b, 1.0, sign)
            continue
        _strip_states(P, S, b0, weights, spans[0, 0], spans[0, 1], 0, constant)
        if b + strip <= direct:
            _strip_sections(P, out, C, S, b0, sec, o0 + b, scale)
        else:
            _strip_sections(P, D, C, S, b0, sec, b, 1.0)

@njit(cache=True, nogil=True)
def _pad_panel(P, width, strip):
    """Zeros in the panel's columns from `width` to the end of its last strip (never
    stored; no NaN or denormal from an uninitialised buffer)."""
    padded = (width + strip - 1) // strip * strip
    for t in range(P.shape[0]):
        row = P[t]
        for b in range(width, padded):
            row[b] = 0.0

@njit(cache=True, nogil=True)
def _section_workspace(n, block, strip, dt):
    """P, D (n x w), w = `block` rounded up to whole strips plus a cache line (panels of a
    power-of-two size would otherwise start on the same cache sets), the strip scratch C
    (n x 2 strip) and the strip's starts S (11 x strip)."""
    w = (block + strip - 1) // strip * strip + 16
    size = n * w + 16
    flat = np.empty(2 * size, dt)
    P = flat[:n * w].reshape((n, w))
    D = flat[size:size + n * w].reshape((n, w))
    return P, D, np.empty((n, 2 * strip), dt), np.empty((11, strip), dt)

@njit(cache=True, nogil=True, fastmath={"contract"})
def _panel_sections(src, dst, o, b0, width, P, D, C, S, sec, weights, spans, constant, edges, cval, store, scale,
                    strip, direct, sign):
    """Columns ``b0 .. b0 + width`` of slab `o`, copied into the panel P first; whole
    strips go straight into dst when `direct`."""
    n = src.shape[1]
    for t in range(n):
        row = src[o, t, b0:b0 + width]
        pr = P[t]
        for b in range(width):
            pr[b] = row[b]
    _pad_panel(P, width, strip)
    whole = width // strip * strip if direct else 0
    _sections_panel(P, 0, D, C, S, sec, weights, spans, constant, edges, cval, width, strip, dst[o], b0, scale,
                    whole, sign)
    if whole < width:
        for t in range(n):
            store_row(dst[o, t, b0 + whole:b0 + width], D[t, whole:width], width - whole, store, scale, 1.0)

@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_sections(src, dst, sec, weights, spans, constant, edges, cval, store, scale, block, strip, direct, sign,
                   start, stop):
    """The IIR (as sections) along the middle axis of (outer, n, inner) views, panels start..stop.

    Panel ``task`` covers columns ``(task % n_blocks) * block`` onwards of slab
    ``task // n_blocks``. In place is allowed (the panel is read whole first).
    """
    _, n, inner = src.shape
    n_blocks = (inner + block - 1) // block
    P, D, C, S = _section_workspace(n, block, strip, sec.dtype)
    for task in range(start, stop):
        b0 = (task % n_blocks) * block
        _panel_sections(src, dst, task // n_blocks, b0, min(block, inner - b0), P, D, C, S, sec, weights, spans,
                        constant, edges, cval, store, scale, strip, direct, sign)

@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_sections_near(src, dst, sec, weights, spans, constant, edges, cval, scale, block, strip, sign, start,
                        stop):
    """:func:`_pass_sections` for rows near each other, src in the compute dtype and a
    plain store: the whole strips read the source and write the destination in place of
    the panel (the strip keeps the x it reads, so src may be dst); the rest goes through
    the panel."""
    _, n, inner = src.shape
    n_blocks = (inner + block - 1) // block
    P, D, C, S = _section_workspace(n, block, strip, sec.dtype)
    for task in range(start, stop):
        o = task // n_blocks
        b0 = (task % n_blocks) * block
        width = min(block, inner - b0)
        whole = width // strip * strip
        if whole:
            _sections_panel(src[o], b0, D, C, S, sec, weights, spans, constant, edges, cval, whole, strip, dst[o],
                            b0, scale, whole, sign)
        if whole < width:
            _panel_sections(src, dst, o, b0 + whole, width - whole, P, D, C, S, sec, weights, spans, constant,
                            edges, cval, 0, scale, strip, False, sign)

@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_sections_lines(src, dst, sec, weights, spans, constant, edges, cval, store, scale, block, strip, sign,
                         start, stop):
    """The IIR (as sections) along the last axis of (lines, n) arrays, `block` lines per panel.

    The lines are transposed into a panel (one line per column), filtered as columns and
    transposed back. In place is allowed.
    """
    lines, n = src.shape
    P, D, C, S = _section_workspace(n, block, strip, sec.dtype)
    tile = strip // STRIP_VECTORS  # one vector of the dtype
    T = np.empty((block if store != 0 else 0, n), sec.dtype)
    src_tile = VECTOR_BYTES // src.itemsize
    for task in range(start, stop):
        l0 = task * block
        width = min(block, lines - l0)
        _transpose_block(src, P, l0, 0, 0, 0, width, n, 1.0, src_tile)
        _pad_panel(P, width, strip)
        _sections_panel(P, 0, D, C, S, sec, weights, spans, constant, edges, cval, width, strip, D, 0, 1.0, 0, sign)
        if store == 0:
            _transpose_block(D, dst, 0, 0, l0, 0, n, width, scale, tile)
        else:
            _transpose_block(D, T, 0, 0, 0, 0, n, width, 1.0, tile)
            for b in range(width):
                store_row(dst[l0 + b], T[b], n, store, scale, 1.0)

@functools.lru_cache(maxsize=256)
def _section_boundaries(op, n, mode):
    """Weights giving each section's two states before its first row from the line (and cval).

    A causal section's state ``Y[-1 - j] = sum_i h[i] x[-1 - j - i]`` over the extension of
    the line by `mode`, ``h`` the section's impulse response, up to the operator's reach;
    the mass beyond (``sum h`` is exact: (p0 + p1) / (1 + a1 + a2)) goes to the sample at
    the reach, so that ``nearest`` is the exact steady state of ITK's initialisation. The
    anticausal sections read x[n + 1 + j + i] the same way. Returns, for
    :func:`_sections_panel`: the weights as (n, 8) (a row's weight in each of the eight
    states), the span of rows [lo, hi) that the causal and the anticausal four read,
    the eight weights of `cval` and the source rows of x[-1], x[n], x[n + 1].
    """
    reach = op.reach
    far = reach + 4
    idx = boundary_index(n, far, 2 * far + 1, int(mode))  # positions -far .. n + far - 1

    def source(position):
        return int(idx[position + far])

    rows = []
    for k, section in enumerate(op.sections):
        h = section_response(section, reach + 1)
        total = (section[0] + section[1]) / (1.0 + section[2] + section[3])
        for j in range(2):
            dense = np.zeros(n + 1)  # the last slot: cval
            if k < 2:
                positions = -1 - j - np.arange(reach + 1)
            else:
                positions = n + 1 + j + np.arange(reach + 1)
            src = idx[positions + far]
            np.add.at(dense, np.where(src < 0, n, src), h)
            tail = source(int(positions[-1]))
            dense[n if tail < 0 else tail] += total - h.sum()
            rows.append(dense)
    dense = np.array(rows)
    spans = np.zeros((2, 2), np.int64)  # the rows each group of four states reads
    for g in range(2):
        used = np.nonzero(np.any(dense[4 * g:4 * g + 4, :n] != 0, axis=0))[0]
        spans[g] = (used[0], used[-1] + 1) if used.size else (0, 0)
    weights = np.ascontiguousarray(dense[:, :n].T)  # (n, 8): a row's weights side by side
    edges = np.array([source(-1), source(n), source(n + 1)], np.int64)
    return weights, spans, dense[:, n].copy(), edges

def iir_compute_dtype(op, compute_dtype):
    """float32 for float32 work when the operator's rounding bound allows it, else float64."""
    if np.dtype(compute_dtype) == np.float32 and op.float32_error <= IIR_FLOAT32_ERROR:
        return np.dtype(np.float32)
    return np.dtype(np.float64)

def run_sections_pass(src, dst, axis, op, mode, cval, store, scale, compute_dtype):
    """Apply the IIR `op` along `axis` as second-order sections (see :class:`~sep3d.kernels.IIR`)."""
    shape = src.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    n = shape[axis]
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    dt = iir_compute_dtype(op, compute_dtype)
    weights, spans, bias, edges = _section_boundaries(op, n, int(mode))
    sec = op.sections.astype(dt)
    weights, constant = weights.astype(dt), (bias * cval).astype(dt)
    cval, scale = dt.type(cval), dt.type(scale)
    # reflect about -1/2 and mirrored sections: the causal starts come from the anticausal pass
    sign = dt.type(op.mirror_sign if Mode(mode) == Mode.REFLECT and n >= 2 else 0)
    threads = get_num_threads()
    strip = strip_width(dt)
    if inner == 1:
        if src.dtype != dt:  # the tile transposes move vectors of the compute dtype
            src = src.astype(dt)
        s2, d2 = src.reshape(outer, n), dst.reshape(outer, n)
        block = 256
        while block > 8 and -(-outer // block) < 4 * threads:
            block //= 2
        tasks = -(-outer // block)
        thread_pool.parallel(tasks, threads, lambda a, b: _pass_sections_lines(
            s2, d2, sec, weights, spans, constant, edges, cval, store, scale, block, strip, sign, a, b))
        return
    s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    budget = 1024 * 1024  # bytes of the two panels per task (an L2's share)
    block = max(strip, budget // (2 * n * dt.itemsize) // strip * strip)
    block = min(block, 256)
    while block > strip and outer * -(-inner // block) < 4 * threads:
        block = max(strip, block // 2 // strip * strip)
    block = min(block, inner)
    tasks = outer * -(-inner // block)
    # near rows (a strip touches a vector of every row: far rows cost a page each): whole
    # strips write straight into dst, and read src too when it holds the compute dtype
    near = inner * dst.itemsize <= DIRECT_ROW_BYTES
    if near and store == WRITE and src.dtype == dt:
        thread_pool.parallel(tasks, threads, lambda a, b: _pass_sections_near(
            s3, d3, sec, weights, spans, constant, edges, cval, scale, block, strip, sign, a, b))
        return
    thread_pool.parallel(tasks, threads, lambda a, b: _pass_sections(
        s3, d3, sec, weights, spans, constant, edges, cval, store, scale, block, strip, near and store == WRITE, sign,
        a, b))

def run_recursive_pass(src, dst, axis, op, mode, cval, store, scale):
    """Apply the IIR `op` along `axis` from `src` to `dst` (C-contiguous, same shape); float64 inside."""
    shape = src.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    n = shape[axis]
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    ext, idx = recursive_extension(n, op, mode)
    if inner == 1:  # lines along the contiguous axis: columns of the transposed view
        s3, d3 = src.reshape(outer, n).T[None], dst.reshape(outer, n).T[None]
        outer, inner = 1, outer
    else:
        s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    threads = get_num_threads()
    block = 64
    while block > 8 and outer * -(-inner // block) < 4 * threads:
        block //= 2
    tasks = outer * -(-inner // block)
    coef = op.coef
    thread_pool.parallel(tasks, threads, lambda a, b: _pass_recursive(
        s3, d3, coef, idx, ext, float(cval), store, float(scale), block, a, b))

// The GPU family's implicit-GEMM weight-gradient kernels: see GpuGemmGeometry.cs.
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static partial class GpuGemmKernels
{
    /// <summary>Weight gradient, wide tile (see the file header). Group (GN, GM) with GN·GM a multiple of 8; grid
    /// (column tiles, channel tiles, slices). Reads the output gradient gy and the input x.</summary>
    public static void WeightGradWide(ArrayView<float> target, ArrayView<float> gy, ArrayView<float> x, ArrayView<int> table, GpuWgradGeometry g)
    {
        var tileA = SharedMemory.Allocate<float>(Depth * WgradStride);
        var tileB = SharedMemory.Allocate<float>(Depth * WgradStride);
        int tn = Group.IdxX;
        int tm = Group.IdxY;
        int gn = Group.DimX;
        int gm = Group.DimY;
        int threads = gn * gm;
        int tid = tm * gn + tn;
        int bm = gm * 8;
        int bn = gn * 8;
        int m0 = Grid.IdxY * bm;
        int col0 = Grid.IdxX * bn;
        int slice = Grid.IdxZ;
        int start = slice * g.PixelsPerSlice;
        int end = g.Pixels - start < g.PixelsPerSlice ? g.Pixels : start + g.PixelsPerSlice;
        // The thread count is a multiple of Depth, so each thread loads the same pixel slot kk at every step.
        int kk = tid & (Depth - 1);

        var c0 = default(F8);
        var c1 = default(F8);
        var c2 = default(F8);
        var c3 = default(F8);
        var c4 = default(F8);
        var c5 = default(F8);
        var c6 = default(F8);
        var c7 = default(F8);
        for (int k0 = start; k0 < end; k0 += Depth)
        {
            var s = g.Site(k0 + kk, end);
            for (int e = tid; e < Depth * bm; e += threads)
            {
                int m = m0 + (e >> 3);
                float v = 0f;
                if (s.Output >= 0 && m < g.M)
                    v = gy[s.Output + m * g.OutPlane.Divisor];
                tileA[kk * WgradStride + (e >> 3)] = v;
            }
            for (int e = tid; e < Depth * bn; e += threads)
            {
                int col = col0 + (e >> 3);
                float v = 0f;
                if (col < g.Columns)
                {
                    int at = g.TableOffset + 4 * col;
                    v = Fetch(x, s, table[at], table[at + 1], table[at + 2], g.SrcH, g.SrcW);
                }
                tileB[kk * WgradStride + (e >> 3)] = v;
            }
            Group.Barrier();
            for (int k = 0; k < Depth; k++)
            {
                var a = F8.Load(tileA, k * WgradStride + tm, gm);
                var b = F8.Load(tileB, k * WgradStride + tn, gn);
                c0 = F8.Fma(c0, a.V0, b);
                c1 = F8.Fma(c1, a.V1, b);
                c2 = F8.Fma(c2, a.V2, b);
                c3 = F8.Fma(c3, a.V3, b);
                c4 = F8.Fma(c4, a.V4, b);
                c5 = F8.Fma(c5, a.V5, b);
                c6 = F8.Fma(c6, a.V6, b);
                c7 = F8.Fma(c7, a.V7, b);
            }
            Group.Barrier();
        }

        int row = m0 + tm;
        int partialBase = g.Partial != 0 ? slice * g.WeightLength : 0;
        StoreWgradRow(target, c0, row, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c1, row + gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c2, row + 2 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c3, row + 3 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c4, row + 4 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c5, row + 5 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c6, row + 6 * gm, col0 + tn, gn, partialBase, g);
        StoreWgradRow(target, c7, row + 7 * gm, col0 + tn, gn, partialBase, g);
    }

    private static void StoreWgradRow(ArrayView<float> target, F8 c, int m, int col, int step, int partialBase, GpuWgradGeometry g)
    {
        if (m >= g.M)
            return;
        int o = partialBase + m * g.Columns;
        StoreWgrad(target, o, col, c.V0, g);
        StoreWgrad(target, o, col + step, c.V1, g);
        StoreWgrad(target, o, col + 2 * step, c.V2, g);
        StoreWgrad(target, o, col + 3 * step, c.V3, g);
        StoreWgrad(target, o, col + 4 * step, c.V4, g);
        StoreWgrad(target, o, col + 5 * step, c.V5, g);
        StoreWgrad(target, o, col + 6 * step, c.V6, g);
        StoreWgrad(target, o, col + 7 * step, c.V7, g);
    }

    private static void StoreWgrad(ArrayView<float> target, int rowOffset, int col, float v, GpuWgradGeometry g)
    {
        if (col >= g.Columns)
            return;
        if (g.Partial != 0)
            target[rowOffset + col] = v;
        else
            target[rowOffset + col] += v;
    }

    /// <summary>Weight gradient for C = <typeparamref name="TRows"/> output channels (= g.M), narrow tile (see the file
    /// header). Group (GK pixel lanes, a power of two; GC column groups of 8); grid (column tiles, slices).</summary>
    public static void WeightGradNarrow<TRows>(ArrayView<float> target, ArrayView<float> gy, ArrayView<float> x, ArrayView<int> table, GpuWgradGeometry g)
        where TRows : struct, IRowCount
    {
        var sums = SharedMemory.Allocate<float>(8 * NarrowWgradMaxThreads);
        var entries = SharedMemory.Allocate<int>(3 * 8 * NarrowWgradMaxGroups);
        int lane = Group.IdxX;
        int cg = Group.IdxY;
        int lanes = Group.DimX;
        int colGroups = Group.DimY;
        int tid = cg * lanes + lane;
        int col0 = (Grid.IdxX * colGroups + cg) * 8;
        int slice = Grid.IdxY;
        int start = slice * g.PixelsPerSlice;
        int end = g.Pixels - start < g.PixelsPerSlice ? g.Pixels : start + g.PixelsPerSlice;

        // The 8 columns of each column group: table entries (a sentinel past the last column).
        for (int e = tid; e < 8 * colGroups; e += lanes * colGroups)
        {
            int col = Grid.IdxX * colGroups * 8 + e;
            int at = g.TableOffset + 4 * col;
            bool inside = col < g.Columns;
            entries[3 * e] = inside ? table[at] : 0;
            entries[3 * e + 1] = inside ? table[at + 1] : Outside;
            entries[3 * e + 2] = inside ? table[at + 2] : Outside;
        }
        Group.Barrier();
        int eb = 3 * 8 * cg;
        var c0 = default(F8);
        var c1 = default(F8);
        var c2 = default(F8);
        var c3 = default(F8);
        for (int p = start + lane; p < end; p += lanes)
        {
            var s = g.Site(p, end);
            var v = new F8(
                Fetch(x, s, entries[eb], entries[eb + 1], entries[eb + 2], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 3], entries[eb + 4], entries[eb + 5], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 6], entries[eb + 7], entries[eb + 8], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 9], entries[eb + 10], entries[eb + 11], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 12], entries[eb + 13], entries[eb + 14], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 15], entries[eb + 16], entries[eb + 17], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 18], entries[eb + 19], entries[eb + 20], g.SrcH, g.SrcW),
                Fetch(x, s, entries[eb + 21], entries[eb + 22], entries[eb + 23], g.SrcH, g.SrcW));
            int plane = g.OutPlane.Divisor;
            c0 = F8.Fma(c0, gy[s.Output], v);
            if (TRows.Count > 1)
                c1 = F8.Fma(c1, gy[s.Output + plane], v);
            if (TRows.Count > 2)
                c2 = F8.Fma(c2, gy[s.Output + 2 * plane], v);
            if (TRows.Count > 3)
                c3 = F8.Fma(c3, gy[s.Output + 3 * plane], v);
        }

        int partialBase = g.Partial != 0 ? slice * g.WeightLength : 0;
        ReduceLanes(target, sums, c0, 0, lane, lanes, tid, col0, partialBase, g);
        if (TRows.Count > 1)
            ReduceLanes(target, sums, c1, 1, lane, lanes, tid, col0, partialBase, g);
        if (TRows.Count > 2)
            ReduceLanes(target, sums, c2, 2, lane, lanes, tid, col0, partialBase, g);
        if (TRows.Count > 3)
            ReduceLanes(target, sums, c3, 3, lane, lanes, tid, col0, partialBase, g);
    }

    /// <summary>Adds the 8 sums of every lane of a column group (a tree: lane l takes lane l + s, s halving), then lane 0
    /// stores them. Every thread of the group calls it (it holds barriers).</summary>
    private static void ReduceLanes(ArrayView<float> target, ArrayView<float> sums, F8 c, int m, int lane, int lanes, int tid, int col0, int partialBase,
        GpuWgradGeometry g)
    {
        int b = 8 * tid;
        sums[b] = c.V0;
        sums[b + 1] = c.V1;
        sums[b + 2] = c.V2;
        sums[b + 3] = c.V3;
        sums[b + 4] = c.V4;
        sums[b + 5] = c.V5;
        sums[b + 6] = c.V6;
        sums[b + 7] = c.V7;
        Group.Barrier();
        for (int s = lanes / 2; s > 0; s /= 2)
        {
            if (lane < s)
            {
                int o = b + 8 * s;
                for (int i = 0; i < 8; i++)
                    sums[b + i] += sums[o + i];
            }
            Group.Barrier();
        }
        if (lane == 0)
        {
            int row = partialBase + m * g.Columns;
            for (int i = 0; i < 8; i++)
                StoreWgrad(target, row, col0 + i, sums[b + i], g);
        }
        Group.Barrier();
    }
}

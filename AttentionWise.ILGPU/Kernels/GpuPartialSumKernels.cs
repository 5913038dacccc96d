// Split reductions' partial sums folded into their target on GPU-shaped devices: an explicit group reduction over the
// slices, so that a small weight (the attention layer's 8 → 1 convolution: 72 elements) still runs on many threads.
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The fixed-order group combine of per-slice partial sums of GPU-shaped devices (the host family keeps
/// <see cref="PartialSumKernels.WeightGradCombine{TView}"/>).</summary>
internal static class GpuPartialSumKernels
{
    /// <summary>Threads of <see cref="WeightGradCombineGroup"/>'s groups at most (lanes × rows; its shared row sums).</summary>
    public const int MaxGroupThreads = 1024;

    /// <summary>Rows of <see cref="WeightGradCombineGroup"/>'s groups at most (its y extent).</summary>
    public const int MaxRows = 32;

    /// <summary>
    /// gw[e] += Σ_s partials[s, e] (partials [slices, size]): group (L × R, L ≥ 2 lanes, R ≤ 32 rows, L·R ≤ 1024) takes L
    /// consecutive elements e (one per lane, so neighbouring lanes read neighbouring floats); row r of the group sums
    /// slices r, r + R, r + 2R, … in order; then row 0 adds the R row sums in row order and adds the result to gw[e].
    /// A fixed order for a given R (with R = 1, the serial order of PartialSumKernels.WeightGradCombine). Grid
    /// ceil(size / L).
    /// </summary>
    public static void WeightGradCombineGroup(ArrayView<float> gw, ArrayView<float> partials, int size, int slices)
    {
        var sums = SharedMemory.Allocate<float>(MaxGroupThreads);
        int lane = Group.IdxX;
        int lanes = Group.DimX;
        int row = Group.IdxY;
        int rows = Group.DimY;
        int e = Grid.IdxX * lanes + lane;
        float s = 0f;
        if (e < size)
        {
            int p = row * size + e;
            int step = rows * size;
            for (int i = row; i < slices; i += rows)
            {
                s += partials[p];
                p += step;
            }
        }
        sums[row * lanes + lane] = s;
        Group.Barrier();
        if (row == 0 && e < size)
        {
            float a = 0f;
            for (int r = 0; r < rows; r++)
                a += sums[r * lanes + lane];
            gw[e] += a;
        }
    }
}

using AttentionWise.Kernels;

namespace AttentionWise.Backends;

/// <summary>How the plane kernels of the attention heads (GpuHeadPlaneKernels) are launched on a GPU-shaped device.</summary>
/// <param name="Lanes">Threads of a plane's team (X of the group).</param>
/// <param name="Planes">Teams, so planes, per group (Y of the group).</param>
/// <param name="BackwardThreads">Threads of a BackwardInputPlanes group.</param>
internal readonly record struct HeadPlaneTile(int Lanes, int Planes, int BackwardThreads)
{
    /// <summary>The launch for images of h × w on a device with <paramref name="maxThreads"/> threads per group and warps
    /// of <paramref name="warp"/>, or null where a plane (or a block of <paramref name="blockImages"/> planes for the
    /// backward pass) does not fit the kernels' shared memory. A team has enough lanes for a lane per row and per
    /// column (whole warps); a group takes as many teams as fit; the backward pass takes the thread count, in whole
    /// warps up to the device's group limit (<see cref="GpuHeadPlaneKernels.BackwardMaxThreads"/> at most), that leaves
    /// the fewest lanes idle over the passes across a plane (ties: more threads). More threads per backward group matter
    /// when a layer has few channels: its grid is (image blocks, C), so a one-channel layer of 4,096 images launches only
    /// 512 groups, and 160-thread groups would fill a third of an H200's warp slots.</summary>
    public static HeadPlaneTile? Choose(int h, int w, int planes, int blockImages, int maxThreads, int warp)
    {
        int backwardMax = Math.Max(1, Math.Min(maxThreads, GpuHeadPlaneKernels.BackwardMaxThreads));
        maxThreads = Math.Max(1, Math.Min(maxThreads, GpuHeadPlaneKernels.MaxThreads));
        warp = Math.Clamp(warp, 1, maxThreads);
        int shared = HeadPlanes.SharedFloats(h, w);
        int hw = h * w;
        if (shared > GpuHeadPlaneKernels.PlaneShared || (long)blockImages * hw > GpuHeadPlaneKernels.BlockShared || hw == 0)
            return null;
        int lanes = Math.Min(maxThreads, (Math.Max(h, w) + warp - 1) / warp * warp);
        int teams = Math.Max(1, Math.Min(Math.Min(maxThreads / lanes, GpuHeadPlaneKernels.PlaneShared / shared), Math.Max(1, planes)));
        int best = warp;
        double bestUse = 0;
        for (int t = warp; t <= backwardMax; t += warp)
        {
            int passes = (hw + t - 1) / t;
            double use = (double)hw / (passes * t);
            if (use > bestUse + 1e-12 || (use >= bestUse - 1e-12 && t > best))
            {
                best = t;
                bestUse = Math.Max(use, bestUse);
            }
        }
        return new HeadPlaneTile(lanes, teams, best);
    }

    /// <summary>Whether this launch fits a device of <paramref name="maxGroupThreads"/> threads per group and the plane
    /// kernels' limits for planes of h × w.</summary>
    public bool Fits(int h, int w, int maxGroupThreads)
    {
        int max = Math.Min(maxGroupThreads, GpuHeadPlaneKernels.MaxThreads);
        int backwardMax = Math.Min(maxGroupThreads, GpuHeadPlaneKernels.BackwardMaxThreads);
        return Lanes >= 1 && Planes >= 1 && BackwardThreads >= 1 && Lanes * Planes <= max && BackwardThreads <= backwardMax
            && Planes * HeadPlanes.SharedFloats(h, w) <= GpuHeadPlaneKernels.PlaneShared;
    }
}

/// <summary>The group shapes of the heads' group reductions on a GPU-shaped device.</summary>
internal static class GpuHeadGroups
{
    /// <summary>The weight-gradient groups, (lanes, rows): 32 × 32 where groups of 1,024 threads are allowed, else powers
    /// of two within the device's group (at least 2 lanes, which avoids PoCL's 1 × n fault). <paramref name="rows"/>
    /// asks for that many rows (within the limit); the lanes then fill the group.</summary>
    public static (int Lanes, int Rows) WeightGradients(ComputeDevice device, int? rows = null)
    {
        int max = Math.Max(2, Math.Min(GpuHeadPlaneKernels.WeightGradLanes * GpuHeadPlaneKernels.WeightGradMaxRows, device.MaxGroupThreads));
        int rowLimit = Math.Min(GpuHeadPlaneKernels.WeightGradMaxRows, max / 2);
        int r;
        if (rows is int asked)
        {
            if (asked < 1 || asked > rowLimit)
                throw new ArgumentOutOfRangeException(nameof(rows), asked, $"Weight-gradient groups take 1 to {rowLimit} rows on this device.");
            r = asked;
        }
        else
        {
            r = PowerOfTwo.Floor(Math.Max(1, Math.Min(rowLimit, max / GpuHeadPlaneKernels.WeightGradLanes)));
        }
        int lanes = PowerOfTwo.Floor(Math.Min(GpuHeadPlaneKernels.WeightGradLanes, max / r));
        return (lanes, r);
    }

    /// <summary>Threads of the head batchnorm's statistics groups: <paramref name="size"/> when given (a power of two ≥ 2
    /// within the device's group and the group reductions' limit), else the device's group-reduction size.</summary>
    public static int Statistics(ComputeDevice device, int? size = null)
    {
        if (size is not int asked)
            return GpuReductionKernelSet.GroupSize(device);
        int limit = Math.Min(device.MaxGroupThreads, GroupReductionKernels.MaxThreads);
        if (asked < 2 || asked > limit || (asked & (asked - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(size), asked, $"Statistics groups take a power of two of threads from 2 to {limit} on this device.");
        return asked;
    }

}

/// <summary>Powers of two for group shapes.</summary>
internal static class PowerOfTwo
{
    /// <summary>The largest power of two ≤ <paramref name="v"/> (1 for v ≤ 1).</summary>
    public static int Floor(int v) => v <= 1 ? 1 : 1 << System.Numerics.BitOperations.Log2((uint)v);

    /// <summary>The smallest power of two ≥ <paramref name="v"/> (1 for v ≤ 1).</summary>
    public static int Ceil(int v) => v <= 1 ? 1 : (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)v);
}

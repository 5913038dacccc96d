using AttentionWise.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Backends;

/// <summary>
/// The fixed-order combine of split weight gradients on GPU-shaped devices (the convolutions' and the dense layer's):
/// gw += Σ_s partials[s] by <see cref="GpuPartialSumKernels.WeightGradCombineGroup"/>, whose groups of lanes × rows
/// give a small weight many threads (each row sums every R-th slice) and a large one one row of coalesced lanes.
/// </summary>
internal static class GpuPartialSums
{
    /// <summary>
    /// The combine's groups, (lanes, rows), powers of two within the device's group and the kernel's limits. Rows: the
    /// <paramref name="rows"/> asked for (1 to the limit), else as many as fill the device's resident threads with
    /// <paramref name="size"/> elements (at most one per slice, at most the limit). Lanes then fill the group, no more
    /// than the elements need, at least 2 (PoCL faults on groups of 1 × n).
    /// </summary>
    public static (int Lanes, int Rows) Groups(ComputeDevice device, int size, int slices, int? rows = null)
    {
        int max = Math.Max(2, Math.Min(GpuPartialSumKernels.MaxGroupThreads, device.MaxGroupThreads));
        int rowLimit = Math.Min(GpuPartialSumKernels.MaxRows, max / 2);
        int r;
        if (rows is int asked)
        {
            if (asked < 1 || asked > rowLimit)
                throw new ArgumentOutOfRangeException(nameof(rows), asked, $"Combine groups take 1 to {rowLimit} rows on this device.");
            r = asked;
        }
        else
        {
            long fill = Math.Max(1L, device.MaxThreads / Math.Max(1L, size));
            r = PowerOfTwo.Floor((int)Math.Min(fill, Math.Min(rowLimit, Math.Max(1, slices))));
        }
        int lanes = Math.Max(2, Math.Min(PowerOfTwo.Floor(max / r), PowerOfTwo.Ceil(Math.Max(1, size))));
        return (lanes, r);
    }

    /// <summary>gw += Σ_s partials[s, ·] over <paramref name="slices"/> slices of gw.Length elements, in a fixed order
    /// for the groups' rows (<see cref="Groups"/>).</summary>
    public static void Combine(ComputeDevice device, DeviceTensor gw, DeviceTensor partials, int slices, int? rows = null)
    {
        int size = gw.Length;
        if (size == 0)
            return;
        var (lanes, r) = Groups(device, size, slices, rows);
        var config = new KernelConfig(new Index2D((size + lanes - 1) / lanes, 1), new Index2D(lanes, r));
        device.Kernels<GpuConvKernelSet>().WeightGradCombineGroup(config, gw.View, partials.View, size, slices);
    }
}

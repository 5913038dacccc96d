// Row gather: copies the rows a list of row numbers names, e.g. a shuffled mini-batch of images (and,
// with itemLength 1, their labels) out of a whole dataset that lives on the device.
//
//   Rows:  y[r, k] = x[(int)indices[start + r], k]
//          x: [rows, itemLength]     the source, e.g. every image of a dataset (N·C·H·W flattened per image)
//          indices: [m]              row numbers as floats (exact below 2^24), e.g. one epoch's permutation
//          y: [count, itemLength]    start + count ≤ m
//
// Launch: Index2D(layout.Threads, count); thread (t, r) copies the elements layout.Element(t, j) of row r.
// The host picks the row layout: one contiguous run per row on CPUs, grid-strided across the row on GPUs
// (neighbouring threads read and write neighbouring addresses).
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

public static class GatherKernels
{
    /// <summary>y[r, k] = x[(int)indices[start + r], k] for the elements of row r thread index.X owns.</summary>
    public static void Rows<TView>(Index2D index, ArrayView<float> yView, ArrayView<float> xView, ArrayView<float> indicesView, int start, int itemLength, LaunchLayout row)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var x = TView.Of(xView);
        var indices = TView.Of(indicesView);
        int r = index.Y;
        int source = (int)indices[start + r] * itemLength;
        int target = r * itemLength;
        for (int j = 0; j < row.PerThread; j++)
        {
            int k = row.Element(index.X, j);
            if (k >= itemLength)
                break;
            y[target + k] = x[source + k];
        }
    }
}

/// <summary>The gather kernels, loaded once per device.</summary>
public sealed class GatherKernelSet : IKernelSet<GatherKernelSet>
{
    private GatherKernelSet(KernelLoader loader)
    {
        if (loader.HostViews)
            Init<HostView>(loader);
        else
            Init<DeviceView>(loader);
    }

    private void Init<TView>(KernelLoader loader)
        where TView : struct, IKernelView<TView>
    {
        Rows = loader.Load<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, LaunchLayout>(
            GatherKernels.Rows<TView>);
    }

    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, LaunchLayout> Rows { get; private set; } = null!;

    public static GatherKernelSet Load(KernelLoader loader) => new(loader);
}

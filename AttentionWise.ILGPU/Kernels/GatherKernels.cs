// Row gather: copies the rows a list of row numbers names, e.g. a shuffled mini-batch of images (and,
// with itemLength 1, their labels) out of a whole dataset that lives on the device.
//
//   Rows:     y[r, k] = x[indices[start + r], k]     (float rows)
//   IntRows:  the same over integer rows (labels)
//          x: [rows, itemLength]     the source, e.g. every image of a dataset (N·C·H·W flattened per image)
//          indices: [m]              row numbers (int32), e.g. one epoch's permutation
//          y: [count, itemLength]    start + count ≤ m
//
// Launch: Index2D(layout.Threads, count); thread (t, r) copies the elements layout.Element(t, j) of row r.
// The backend picks the row layout: one contiguous run per row on the host, grid-strided across the row on GPUs
// (neighbouring threads read and write neighbouring addresses).
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static class GatherKernels
{
    /// <summary>y[r, k] = x[indices[start + r], k] for the elements of row r thread index.X owns.</summary>
    public static void Rows<TView>(Index2D index, ArrayView<float> yView, ArrayView<float> xView, ArrayView<int> indices, int start, int itemLength, LaunchLayout row)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var x = TView.Of(xView);
        int r = index.Y;
        int source = indices[start + r] * itemLength;
        int target = r * itemLength;
        for (int j = 0; j < row.PerThread; j++)
        {
            int k = row.Element(index.X, j);
            if (k >= itemLength)
                break;
            y[target + k] = x[source + k];
        }
    }

    /// <summary>y[r, k] = x[indices[start + r], k] over integer rows, for the elements of row r thread index.X owns.</summary>
    public static void IntRows(Index2D index, ArrayView<int> y, ArrayView<int> x, ArrayView<int> indices, int start, int itemLength, LaunchLayout row)
    {
        int r = index.Y;
        int source = indices[start + r] * itemLength;
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

/// <summary>The gather kernels for one kernel view (<see cref="HostView"/> on the host backend, <see cref="DeviceView"/>
/// on the GPU backend), loaded once per device.</summary>
internal sealed class GatherKernelSet<TView> : IKernelSet<GatherKernelSet<TView>>
    where TView : struct, IKernelView<TView>
{
    private GatherKernelSet(KernelLoader loader)
    {
        Rows = loader.Load<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, LaunchLayout>(GatherKernels.Rows<TView>);
        IntRows = loader.Load<Index2D, ArrayView<int>, ArrayView<int>, ArrayView<int>, int, int, LaunchLayout>(GatherKernels.IntRows);
    }

    public Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, LaunchLayout> Rows { get; }

    public Action<Index2D, ArrayView<int>, ArrayView<int>, ArrayView<int>, int, int, LaunchLayout> IntRows { get; }

    public static GatherKernelSet<TView> Load(KernelLoader loader) => new(loader);
}

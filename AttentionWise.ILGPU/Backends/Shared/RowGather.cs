using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>Row gather as one kernel launch over (row threads, rows); the same code for both families, closed with each
/// family's kernel view, with the row layout the backend gives.</summary>
internal sealed class RowGather<TView>(ComputeDevice device, Func<int, LaunchLayout> rowLayout) : IGather
    where TView : struct, IKernelView<TView>
{
    public void Rows(DeviceTensor source, DeviceIntTensor indices, int start, DeviceTensor destination)
    {
        int count = destination.Shape.N, itemLength = source.Shape.ItemLength;
        var row = rowLayout(itemLength);
        device.Kernels<GatherKernelSet<TView>>().Rows(new ILGPU.Index2D(row.Threads, count), destination.View, source.View, indices.View, start, itemLength, row);
    }

    public void Rows(DeviceIntTensor source, DeviceIntTensor indices, int start, DeviceIntTensor destination)
    {
        int count = destination.Shape.N, itemLength = source.Shape.ItemLength;
        var row = rowLayout(itemLength);
        device.Kernels<GatherKernelSet<TView>>().IntRows(new ILGPU.Index2D(row.Threads, count), destination.View, source.View, indices.View, start, itemLength, row);
    }
}

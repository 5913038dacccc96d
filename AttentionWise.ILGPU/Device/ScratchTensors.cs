namespace AttentionWise;

/// <summary>The scratch tensors of one module or op: each slot allocated on first use, resized (reusing its memory where
/// it fits) when a later call needs another shape, all freed with their owner. Contents are undefined between calls.</summary>
internal sealed class ScratchTensors(ComputeDevice device) : IDisposable
{
    private readonly List<DeviceTensor> _owned = [];

    public DeviceTensor Get(ref DeviceTensor? slot, Shape shape)
    {
        if (slot is null)
        {
            slot = device.Allocate(shape);
            _owned.Add(slot);
        }
        else if (!slot.Shape.Equals(shape))
        {
            slot.Resize(shape);
        }
        return slot;
    }

    public void Dispose()
    {
        foreach (var t in _owned)
            t.Dispose();
        _owned.Clear();
    }
}

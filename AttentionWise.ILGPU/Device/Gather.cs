namespace AttentionWise;

/// <summary>Gathers rows of a device tensor by a device list of row numbers (the device's <see cref="Ops.IGather"/>).</summary>
public static class Gather
{
    /// <summary>
    /// <paramref name="destination"/>[r, …] = <paramref name="source"/>[indices[start + r], …] for r &lt; destination's first
    /// dimension. Rows are everything after the first dimension. The caller guarantees that every index used is a row of
    /// <paramref name="source"/>.
    /// </summary>
    public static void Rows(DeviceTensor source, DeviceIntTensor indices, int start, DeviceTensor destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(destination);
        if (Check(source.Shape, indices, start, destination.Shape))
            source.Device.Backend.Gather.Rows(source, indices, start, destination);
    }

    /// <summary>The same over integer rows, e.g. the labels of a shuffled mini-batch.</summary>
    public static void Rows(DeviceIntTensor source, DeviceIntTensor indices, int start, DeviceIntTensor destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(destination);
        if (Check(source.Shape, indices, start, destination.Shape))
            source.Device.Backend.Gather.Rows(source, indices, start, destination);
    }

    /// <summary>Checks the shapes and the index range; false when there is nothing to copy.</summary>
    private static bool Check(Shape source, DeviceIntTensor indices, int start, Shape destination)
    {
        if (source.Rank < 1 || destination.Rank != source.Rank)
            throw new ShapeMismatchException("Gather.Rows destination (same rank as the source)", source, destination);
        int count = destination.N;
        Shape.Require(source.WithBatch(count), destination, "Gather.Rows destination");
        if (start < 0 || start + count > indices.Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"Gather.Rows: rows {start}..{start + count - 1} of an index list of {indices.Length}.");
        return count > 0 && source.ItemLength > 0;
    }
}

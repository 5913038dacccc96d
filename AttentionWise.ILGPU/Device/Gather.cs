using AttentionWise.Kernels;

namespace AttentionWise;

/// <summary>Gathers rows of a device tensor by a device list of row numbers (host side of <see cref="GatherKernels"/>).</summary>
public static class Gather
{
    /// <summary>Largest row number a float index holds exactly.</summary>
    public const int MaxRows = 1 << 24;

    /// <summary>
    /// <paramref name="destination"/>[r, …] = <paramref name="source"/>[indices[start + r], …] for r &lt; destination's first
    /// dimension. Rows are everything after the first dimension; <paramref name="indices"/> holds row numbers as floats.
    /// The caller guarantees that every index used is a row of <paramref name="source"/>.
    /// </summary>
    public static void Rows(DeviceTensor source, DeviceTensor indices, int start, DeviceTensor destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(destination);
        if (source.Shape.Rank < 1 || destination.Shape.Rank != source.Shape.Rank)
            throw new ShapeMismatchException("Gather.Rows destination (same rank as the source)", source.Shape, destination.Shape);
        int count = destination.Shape.N;
        Shape.Require(source.Shape.WithBatch(count), destination.Shape, "Gather.Rows destination");
        if (source.Shape.N > MaxRows)
            throw new ArgumentException($"Gather.Rows: {source.Shape.N} rows are more than float row numbers address exactly ({MaxRows}).", nameof(source));
        if (start < 0 || start + count > indices.Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"Gather.Rows: rows {start}..{start + count - 1} of an index list of {indices.Length}.");
        int itemLength = source.Shape.ItemLength;
        if (count == 0 || itemLength == 0)
            return;
        var device = source.Device;
        var row = !device.GpuShaped
            ? LaunchLayout.Contiguous(itemLength, 1)
            : LaunchLayout.GridStride(itemLength, Math.Min(itemLength, 256));
        device.Kernels<GatherKernelSet>().Rows(new ILGPU.Index2D(row.Threads, count), destination.View, source.View, indices.View, start, itemLength, row);
    }
}

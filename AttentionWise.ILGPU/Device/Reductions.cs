using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise;

/// <summary>Deterministic whole-tensor reductions, run by the device's reductions op: a fixed block structure that
/// depends on the length only, then a fixed-order sum of the block sums.</summary>
public static class Reductions
{
    /// <summary>Σ of every element; downloads one float.</summary>
    public static float Sum(DeviceTensor t) => Reduce(t, 1f);

    /// <summary>The mean of every element (NaN for an empty tensor); downloads one float.</summary>
    public static float Mean(DeviceTensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        return t.Length == 0 ? float.NaN : Reduce(t, 1f / t.Length);
    }

    /// <summary>result[index] = scale · Σ t on the device, without downloading (result must have a slot at index).</summary>
    public static void SumTo(DeviceTensor t, DeviceTensor result, int index = 0, float scale = 1f)
    {
        ArgumentNullException.ThrowIfNull(t);
        SumTo(t.Device.Backend.Reductions, t, result, index, scale);
    }

    /// <summary><see cref="SumTo(DeviceTensor, DeviceTensor, int, float)"/> with a given reductions op.</summary>
    internal static void SumTo(IReductions op, DeviceTensor t, DeviceTensor result, int index = 0, float scale = 1f)
    {
        ArgumentNullException.ThrowIfNull(t);
        ArgumentNullException.ThrowIfNull(result);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, result.Length);
        int blocks = Math.Max(1, (t.Length + ReductionKernels.SumBlockLength - 1) / ReductionKernels.SumBlockLength);
        using var partials = t.Device.Allocate(Shape.Of(blocks));
        op.SumTo(t, result, index, scale, partials);
    }

    private static float Reduce(DeviceTensor t, float scale)
    {
        ArgumentNullException.ThrowIfNull(t);
        using var result = t.Device.Allocate(Shape.Of(1));
        SumTo(t, result, 0, scale);
        return result.Download()[0];
    }
}

/// <summary>
/// Deterministic per-channel reductions of NCHW (or [N, C]) tensors, used by bias gradients and
/// batch normalisation: channel c reduces over every item and position. Each channel is cut into slices
/// of items whose partial results are combined in a fixed order, so that even a few channels over a
/// huge batch use every core and the result does not depend on the machine. One pass over memory each.
/// A workspace tensor (any shape; resized as needed) can be given to avoid an allocation per call.
/// </summary>
public static class ChannelReductions
{
    /// <summary>result[c] = Σ_{n,s} x[n, c, s], or result[c] += that when <paramref name="accumulate"/>.</summary>
    public static void Sum(DeviceTensor x, DeviceTensor result, bool accumulate, DeviceTensor? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        Sum(x.Device.Backend.Reductions, x, result, accumulate, workspace);
    }

    /// <summary><see cref="Sum(DeviceTensor, DeviceTensor, bool, DeviceTensor?)"/> with a given reductions op.</summary>
    internal static void Sum(IReductions op, DeviceTensor x, DeviceTensor result, bool accumulate, DeviceTensor? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(result);
        var geo = Geometry(x.Shape, "ChannelReductions.Sum");
        Shape.Require(Shape.Of(geo.Channels), result.Shape, "ChannelReductions.Sum result");
        Run(x.Device, geo, workspace, partials => op.ChannelSums(x, x, result, result, result, geo, withDot: false, accumulate, partials));
    }

    /// <summary>sumA[c] = Σ a[n, c, s] and sumDot[c] = Σ a[n, c, s]·(b[n, c, s] − shift[c]) (or += both when
    /// <paramref name="accumulate"/>). The shift keeps the products centred (batchnorm backward passes the mean).</summary>
    public static void SumAndCenteredDot(DeviceTensor a, DeviceTensor b, DeviceTensor shift, DeviceTensor sumA, DeviceTensor sumDot, bool accumulate, DeviceTensor? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        SumAndCenteredDot(a.Device.Backend.Reductions, a, b, shift, sumA, sumDot, accumulate, workspace);
    }

    /// <summary><see cref="SumAndCenteredDot(DeviceTensor, DeviceTensor, DeviceTensor, DeviceTensor, DeviceTensor, bool, DeviceTensor?)"/>
    /// with a given reductions op.</summary>
    internal static void SumAndCenteredDot(IReductions op, DeviceTensor a, DeviceTensor b, DeviceTensor shift, DeviceTensor sumA, DeviceTensor sumDot,
        bool accumulate, DeviceTensor? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(shift);
        ArgumentNullException.ThrowIfNull(sumA);
        ArgumentNullException.ThrowIfNull(sumDot);
        Shape.Require(a.Shape, b.Shape, "ChannelReductions.SumAndCenteredDot second operand");
        var geo = Geometry(a.Shape, "ChannelReductions.SumAndCenteredDot");
        var channels = Shape.Of(geo.Channels);
        Shape.Require(channels, shift.Shape, "ChannelReductions.SumAndCenteredDot shift");
        Shape.Require(channels, sumA.Shape, "ChannelReductions.SumAndCenteredDot sum");
        Shape.Require(channels, sumDot.Shape, "ChannelReductions.SumAndCenteredDot dot");
        Run(a.Device, geo, workspace, partials => op.ChannelSums(a, b, shift, sumA, sumDot, geo, withDot: true, accumulate, partials));
    }

    /// <summary>mean[c] and biased variance[c] = mean of (x − mean[c])² over every item and position, in one
    /// pass over memory (per item: sums shifted by its first value; merged with Chan's formula).</summary>
    public static void MeanVariance(DeviceTensor x, DeviceTensor mean, DeviceTensor variance, DeviceTensor? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        MeanVariance(x.Device.Backend.Reductions, x, mean, variance, workspace);
    }

    /// <summary><see cref="MeanVariance(DeviceTensor, DeviceTensor, DeviceTensor, DeviceTensor?)"/> with a given reductions op.</summary>
    internal static void MeanVariance(IReductions op, DeviceTensor x, DeviceTensor mean, DeviceTensor variance, DeviceTensor? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(variance);
        var geo = Geometry(x.Shape, "ChannelReductions.MeanVariance");
        if ((long)geo.Items * geo.Spatial == 0)
            throw new ArgumentException($"ChannelReductions.MeanVariance: the input {x.Shape} has no element per channel.", nameof(x));
        var channels = Shape.Of(geo.Channels);
        Shape.Require(channels, mean.Shape, "ChannelReductions.MeanVariance mean");
        Shape.Require(channels, variance.Shape, "ChannelReductions.MeanVariance variance");
        Run(x.Device, geo, workspace, partials => op.MeanVariance(x, mean, variance, geo, partials));
    }

    /// <summary>The per-channel view of a shape: [N, C, rest…] → N, C, S = product of the rest.</summary>
    internal static ChannelGeometry Geometry(Shape shape, string where)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Rank < 2)
            throw new ArgumentException($"{where}: a per-channel reduction needs an [N, C, …] tensor, not {shape}.");
        int n = shape[0], c = shape[1];
        int s = 1;
        for (int d = 2; d < shape.Rank; d++)
            s *= shape[d];
        return ChannelGeometry.For(n, c, s);
    }

    private static void Run(ComputeDevice device, ChannelGeometry geo, DeviceTensor? workspace, Action<DeviceTensor> launch)
    {
        if (geo.Channels == 0)
            return;
        var partialShape = Shape.Of(geo.Slices * 2 * geo.Channels);
        if (workspace is not null)
        {
            workspace.Resize(partialShape);
            launch(workspace);
            return;
        }
        using var partials = device.Allocate(partialShape);
        launch(partials);
    }
}

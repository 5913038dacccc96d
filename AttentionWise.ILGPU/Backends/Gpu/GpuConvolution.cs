using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Backends;

/// <summary>
/// A convolution's passes on a GPU-shaped device, as implicit GEMM (Kernels/GpuGemmKernels*.cs): the tile of each
/// product from <see cref="GpuConvPlan"/>, the k tables (<see cref="GpuConvTables"/>, built once per input size and kept),
/// and the launches. The weight is read in its own layout by every pass, so nothing depends on its values: there is no
/// re-laid-out copy that an optimiser step or an upload could leave stale.
/// </summary>
internal sealed class GpuConvolution : IConvolution
{
    private readonly ComputeDevice _device;
    private readonly Dictionary<(int H, int W), GpuConvTables> _tables = new();
    private DeviceTensor? _partials;

    public GpuConvolution(ComputeDevice device, ConvolutionGeometry geometry, ConvolutionOptions options)
    {
        _device = device;
        Geometry = geometry;
        Plan = new GpuConvPlan(device, options);
    }

    public ConvolutionGeometry Geometry { get; }

    public ConvolutionPath Path => ConvolutionPath.GpuGemm;

    /// <summary>The tile chooser of this op (its options applied).</summary>
    public GpuConvPlan Plan { get; }

    /// <summary>y = conv(x) (+ bias).</summary>
    public void Forward(DeviceTensor y, DeviceTensor x, DeviceTensor weight, DeviceTensor? bias)
    {
        var s = x.Shape;
        if (s.N == 0)
            return;
        var t = TablesFor(s.H, s.W);
        var o = y.Shape;
        var c = Geometry;
        int ci = c.InChannels, co = c.OutChannels;
        var g = new GpuGemmGeometry(co, ci * c.Taps, s.N, o.H, o.W,
            ci * s.H * s.W, s.H, s.W, c.Stride.H, c.Stride.W, -c.Padding.H, -c.Padding.W, ci * c.Taps,
            co * o.H * o.W, o.H * o.W, o.W, 1, 1, 0, 0, t.ForwardOffset, bias is null ? 0 : 1, 0, t.ForwardWeightsDirect);
        Launch(y, x, weight, bias ?? weight, t, g);
    }

    /// <summary>gx = the input gradient for gy: one product per phase of the stride (every input pixel is written by
    /// exactly one phase; a phase with no taps writes zeros).</summary>
    public void InputGradient(DeviceTensor gx, DeviceTensor gy, DeviceTensor weight)
    {
        var s = gx.Shape;
        var o = gy.Shape;
        var t = TablesFor(s.H, s.W);
        var c = Geometry;
        int ci = c.InChannels, co = c.OutChannels;
        foreach (var ph in t.Phases)
        {
            if (ph.Rows == 0 || ph.Columns == 0)
                continue;
            var g = new GpuGemmGeometry(ci, ph.K, s.N, ph.Rows, ph.Columns,
                co * o.H * o.W, o.H, o.W, 1, 1, ph.FirstRow, ph.FirstColumn, c.Taps,
                ci * s.H * s.W, s.H * s.W, s.W, c.Stride.H, c.Stride.W, ph.OutRow, ph.OutColumn, ph.Offset, 0, 0);
            Launch(gx, gy, weight, weight, t, g);
        }
    }

    /// <summary>gw += the weight gradient for gy and the forward's input x (through per-slice sums in a tensor of this
    /// object when the reduction is split).</summary>
    public void WeightGradient(DeviceTensor gw, DeviceTensor gy, DeviceTensor x)
    {
        var s = x.Shape;
        var o = gy.Shape;
        int pixels = o.N * o.H * o.W;
        if (pixels == 0)
            return;
        var t = TablesFor(s.H, s.W);
        var c = Geometry;
        int co = c.OutChannels, columns = c.InChannels * c.Taps;
        var tile = Plan.ChooseWgrad(co, columns, pixels);
        bool split = tile.Slices > 1;
        var g = new GpuWgradGeometry(co, columns, o.N, o.H, o.W, c.InChannels * s.H * s.W, s.H, s.W,
            c.Stride.H, c.Stride.W, c.Padding.H, c.Padding.W, t.ForwardOffset, tile.PixelsPerSlice, split ? 1 : 0, gw.Length);
        var k = _device.Kernels<GpuConvKernelSet>();
        DeviceTensor? partials = null;
        if (split)
        {
            var shape = Shape.Of(tile.Slices * gw.Length);
            _partials ??= _device.Allocate(shape);
            if (!_partials.Shape.Equals(shape))
                _partials.Resize(shape);
            partials = _partials;
        }
        var target = partials ?? gw;
        _device.Work(2.0 * co * columns * pixels);
        if (tile.Narrow)
        {
            int colTiles = (columns + 8 * tile.Columns - 1) / (8 * tile.Columns);
            var config = new KernelConfig(new Index2D(colTiles, tile.Slices), new Index2D(tile.Rows, tile.Columns));
            var kernel = co switch
            {
                1 => k.WeightGradNarrow1,
                2 => k.WeightGradNarrow2,
                3 => k.WeightGradNarrow3,
                _ => k.WeightGradNarrow4,
            };
            kernel(config, target.View, gy.View, x.View, t.View, g);
        }
        else
        {
            int rowTiles = (co + 8 * tile.Rows - 1) / (8 * tile.Rows);
            int colTiles = (columns + 8 * tile.Columns - 1) / (8 * tile.Columns);
            var config = new KernelConfig(new Index3D(colTiles, rowTiles, tile.Slices), new Index3D(tile.Columns, tile.Rows, 1));
            k.WeightGradWide(config, target.View, gy.View, x.View, t.View, g);
        }
        if (partials is not null)
            GpuPartialSums.Combine(_device, gw, partials, tile.Slices);
    }

    private void Launch(DeviceTensor output, DeviceTensor source, DeviceTensor weight, DeviceTensor bias, GpuConvTables t, GpuGemmGeometry g)
    {
        if (g.Pixels == 0 || g.M == 0)
            return;
        var k = _device.Kernels<GpuConvKernelSet>();
        var tile = Plan.ChooseGemm(g.M, g.Pixels);
        int pixelTiles = (g.Pixels + tile.PixelsPerGroup - 1) / tile.PixelsPerGroup;
        if (tile.Narrow)
        {
            // Up to 4 rows a launch: rows r0.. are rows 0.. of views that start at row r0 of the output, the weight and the
            // bias (the kernel addresses each linearly in the row).
            for (int r0 = 0; r0 < g.M; r0 += 4)
            {
                int rows = Math.Min(4, g.M - r0);
                var kernel = rows switch
                {
                    1 => k.GemmNarrow1,
                    2 => k.GemmNarrow2,
                    3 => k.GemmNarrow3,
                    _ => k.GemmNarrow4,
                };
                // The least traffic of this launch: the whole source, its rows of the output and of the weight, the table.
                _device.Work(2.0 * rows * g.K * g.Pixels, 4L * (source.Length + (long)rows * g.Pixels + (long)rows * g.K + t.View.Length));
                kernel(new KernelConfig(pixelTiles, tile.Pixels), From(output.View, (long)r0 * g.OutChannel), source.View,
                    From(weight.View, (long)r0 * g.WeightStride), g.HasBias != 0 ? From(bias.View, r0) : bias.View, t.View, g);
            }
        }
        else
        {
            _device.Work(2.0 * g.M * g.K * g.Pixels);
            var wide = new GpuGemmGeometry(g, System.Numerics.BitOperations.Log2((uint)tile.PixelsPerGroup));
            int rowTiles = (g.M + tile.RowsPerGroup - 1) / tile.RowsPerGroup;
            k.GemmWide(new KernelConfig(new Index2D(pixelTiles, rowTiles), new Index2D(tile.Pixels, tile.Rows)),
                output.View, source.View, weight.View, bias.View, t.View, wide);
        }
    }

    private static ArrayView<float> From(ArrayView<float> view, long offset) => offset == 0 ? view : view.SubView(offset, view.Length - offset);

    private GpuConvTables TablesFor(int h, int w)
    {
        if (!_tables.TryGetValue((h, w), out var t))
        {
            t = GpuConvTables.Build(_device, Geometry, h, w);
            _tables[(h, w)] = t;
        }
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _tables.Values)
            t.Dispose();
        _tables.Clear();
        _partials?.Dispose();
        _partials = null;
    }
}

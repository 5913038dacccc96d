using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Backends;

/// <summary>One phase (ry, rx) of the input gradient: its taps, the input pixels it writes, and where it starts.</summary>
internal sealed record GpuConvPhase(int K, int Rows, int Columns, int FirstRow, int FirstColumn, int OutRow, int OutColumn, int Offset);

/// <summary>The k tables of one input size on the device: the forward's (also the weight gradient's columns), then every
/// phase of the input gradient, each padded with sentinels to a multiple of Depth entries.</summary>
internal sealed class GpuConvTables : IDisposable
{
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _buffer;
    private readonly ComputeDevice _device;

    private GpuConvTables(ComputeDevice device, ConvolutionGeometry geometry, int[] data, IReadOnlyList<GpuConvPhase> phases)
    {
        _device = device;
        _buffer = device.Accelerator.Allocate1D(data);
        device.TrackAllocation(_buffer.LengthInBytes);
        Phases = phases;
        Entries = data;
        ForwardWeightsDirect = WeightOffsetsAreK(data, ForwardOffset, geometry.InChannels * geometry.Taps) ? 1 : 0;
    }

    public int ForwardOffset => 0;

    /// <summary>1 when the forward's weight offset of every k is k (GpuGemmGeometry.DirectWeight), checked on the data.</summary>
    public int ForwardWeightsDirect { get; }

    /// <summary>Whether entries k = 0 … count − 1 from <paramref name="offset"/> have weight offset k.</summary>
    public static bool WeightOffsetsAreK(int[] data, int offset, int count)
    {
        for (int k = 0; k < count; k++)
        {
            if (data[offset + 4 * k + 3] != k)
                return false;
        }
        return true;
    }
    public IReadOnlyList<GpuConvPhase> Phases { get; }
    public ArrayView<int> View => _buffer.View;

    /// <summary>The table as uploaded (for tests).</summary>
    public int[] Entries { get; }

    public static GpuConvTables Build(ComputeDevice device, ConvolutionGeometry geometry, int h, int w) => new(device, geometry, Data(geometry, h, w, out var phases), phases);

    /// <summary>The table data and the phases for an input of h × w (see Kernels/GpuGemmKernels.cs).</summary>
    public static int[] Data(ConvolutionGeometry plan, int h, int w, out List<GpuConvPhase> phases)
    {
        int ci = plan.InChannels, co = plan.OutChannels, kh = plan.Kernel.H, kw = plan.Kernel.W, taps = plan.Taps;
        int sy = plan.Stride.H, sx = plan.Stride.W, py = plan.Padding.H, px = plan.Padding.W;
        int ho = (h + 2 * py - kh) / sy + 1, wo = (w + 2 * px - kw) / sx + 1;
        var data = new List<int>();
        for (int c = 0; c < ci; c++)
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                    data.AddRange([c * h * w + ky * w + kx, ky, kx, (c * kh + ky) * kw + kx]);
        Pad(data);
        phases = new List<GpuConvPhase>();
        for (int ry = 0; ry < sy; ry++)
        {
            for (int rx = 0; rx < sx; rx++)
            {
                int offset = data.Count;
                int tapsY = ry < kh ? (kh - ry + sy - 1) / sy : 0;
                int tapsX = rx < kw ? (kw - rx + sx - 1) / sx : 0;
                for (int c = 0; c < co; c++)
                    for (int a = 0; a < tapsY; a++)
                        for (int b = 0; b < tapsX; b++)
                            data.AddRange([c * ho * wo - a * wo - b, -a, -b, c * ci * taps + (ry + sy * a) * kw + rx + sx * b]);
                Pad(data);
                // Input rows y = j·sy + ry − py inside [0, h): j from jlo, in phase coordinates j − jlo.
                var (firstY, rows) = Span(h, sy, ry, py);
                var (firstX, columns) = Span(w, sx, rx, px);
                phases.Add(new GpuConvPhase(co * tapsY * tapsX, rows, columns, firstY, firstX, firstY * sy + ry - py, firstX * sx + rx - px, offset));
            }
        }
        return data.ToArray();
    }

    /// <summary>The first j ≥ 0 with j·s + r − p ≥ 0 and the count of j with j·s + r − p &lt; size.</summary>
    private static (int First, int Count) Span(int size, int s, int r, int p)
    {
        int first = p - r > 0 ? (p - r + s - 1) / s : 0;
        int last = size - 1 + p - r >= 0 ? (size - 1 + p - r) / s : -1;
        return (first, Math.Max(0, last - first + 1));
    }

    private static void Pad(List<int> data)
    {
        while (data.Count / 4 % GpuGemmKernels.Depth != 0)
            data.AddRange([0, GpuGemmKernels.Outside, GpuGemmKernels.Outside, 0]);
    }

    public void Dispose()
    {
        _device.TrackAllocation(-_buffer.LengthInBytes);
        _buffer.Dispose();
    }
}

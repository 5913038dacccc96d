using System.Globalization;
using AttentionWise.Layers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace AttentionWise.Bench;

/// <summary>
/// The control model's six convolutions (SPEC §1, Fashion-MNIST) at batch 256: forward, input gradient and weight
/// gradient (with the bias gradient) as separate passes, in GFLOP/s (2·N·Co·Ho·Wo·Ci·kH·kW per pass). On the cpu
/// device these run as im2col and BLAS products (the host passes); AW_BLAS=off times the register-tiled kernels
/// instead. `scripts/bench --filter '*ConvBenchmarks*'`.
/// </summary>
[Config(typeof(Config))]
public class ConvBenchmarks : IDisposable
{
    private ComputeDevice _device = null!;
    private Conv2d _conv = null!;
    private DeviceTensor _x = null!;
    private DeviceTensor _gy = null!;

    [Params("conv1", "conv2", "conv3", "conv4", "conv5", "conv6")]
    public string Conv { get; set; } = "conv2";

    [Params(256)]
    public int Batch { get; set; }

    private static (string Name, int N, int Ci, int Co, int H, int W, int K, int S, int P, bool Bias) ShapeOf(string conv) =>
        QuickTiming.Shapes.FirstOrDefault(s => s.Name == conv) is { Name: not null } s ? s : throw new ArgumentException($"Unknown convolution '{conv}'.");

    /// <summary>Flops of one pass: 2·N·Co·Ho·Wo·Ci·kH·kW.</summary>
    public static double Flops(string conv, int batch)
    {
        var s = ShapeOf(conv);
        int ho = (s.H + 2 * s.P - s.K) / s.S + 1, wo = (s.W + 2 * s.P - s.K) / s.S + 1;
        return 2.0 * batch * s.Co * ho * wo * s.Ci * s.K * s.K;
    }

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        var s = ShapeOf(Conv);
        _conv = new Conv2d(_device, s.Ci, s.Co, s.K, s.S, s.P, s.Bias);
        Init.Apply(_conv, new Rng(1));
        var shape = Shape.Of(Batch, s.Ci, s.H, s.W);
        _x = _device.Upload(shape, QuickTiming.Random(shape.Length, 2));
        var outShape = _conv.OutputShape(shape);
        _gy = _device.Upload(outShape, QuickTiming.Random(outShape.Length, 3));
        _conv.Forward(_x);
        _device.Synchronize();
    }

    [Benchmark]
    public void Forward()
    {
        _conv.Forward(_x);
        _device.Synchronize();
    }

    [Benchmark]
    public void BackwardInput()
    {
        _conv.BackwardInput(_gy);
        _device.Synchronize();
    }

    [Benchmark]
    public void BackwardWeight()
    {
        _conv.BackwardParameters(_gy);
        _device.Synchronize();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _x?.Dispose();
        _gy?.Dispose();
        _conv?.Dispose();
        _device?.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new RateColumn("GFLOP/s", c => Flops((string)c.Parameters["Conv"], (int)c.Parameters["Batch"]) / 1e9));
        }
    }
}

/// <summary>A column of work per second: <c>work(case) / mean time</c> (e.g. GFLOP/s or images/s).</summary>
public sealed class RateColumn : IColumn
{
    private readonly Func<BenchmarkCase, double> _work;

    public RateColumn(string name, Func<BenchmarkCase, double> work)
    {
        ColumnName = name;
        Id = "Rate." + name;
        _work = work;
    }

    public string Id { get; }
    public string ColumnName { get; }
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => $"{ColumnName} = work per operation / mean time";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null || stats.Mean <= 0)
            return "-";
        return (_work(benchmarkCase) / (stats.Mean * 1e-9)).ToString("F2", CultureInfo.InvariantCulture);
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
}

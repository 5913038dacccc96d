using BenchmarkDotNet.Attributes;

namespace AttentionWise.Bench;

/// <summary>The generic element-wise kernel at the size of one attention layer's head outputs
/// (batch 4096 × 8 heads × 28 × 28 = 25.7 M floats).</summary>
[MemoryDiagnoser]
public class ElementwiseBenchmarks : IDisposable
{
    private ComputeDevice _device = null!;
    private DeviceTensor _a = null!;
    private DeviceTensor _b = null!;
    private DeviceTensor _y = null!;

    [Params(4096 * 8 * 28 * 28)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        var shape = Shape.Of(Length);
        var rng = new Random(1);
        var data = new float[Length];
        for (int i = 0; i < data.Length; i++)
            data[i] = (float)(rng.NextDouble() * 2 - 1);
        _a = _device.Upload(shape, data);
        _b = _device.Upload(shape, data);
        _y = _device.Allocate(shape);
    }

    [Benchmark]
    public void Relu()
    {
        Elementwise.Relu(_a, _y);
        _device.Synchronize();
    }

    [Benchmark]
    public void Multiply()
    {
        Elementwise.Multiply(_a, _b, _y);
        _device.Synchronize();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _a?.Dispose();
        _b?.Dispose();
        _y?.Dispose();
        _device?.Dispose();
        GC.SuppressFinalize(this);
    }
}

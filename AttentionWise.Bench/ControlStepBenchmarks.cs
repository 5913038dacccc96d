using AttentionWise.Layers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace AttentionWise.Bench;

/// <summary>
/// One whole training step of the control model (SPEC §1, Fashion-MNIST 1×28×28) at batch 256: forward,
/// log-softmax + NLL loss (and its two-float result), backward, Adam. Reported in images/s.
/// `scripts/bench --filter '*ControlStep*'`.
/// </summary>
[Config(typeof(Config))]
public class ControlStepBenchmarks : IDisposable
{
    private ComputeDevice _device = null!;
    private Sequential _model = null!;
    private LogSoftmaxNllLoss _loss = null!;
    private Adam _adam = null!;
    private DeviceTensor _x = null!;
    private DeviceTensor _labels = null!;

    [Params(256)]
    public int Batch { get; set; }

    /// <summary>The control model of SPEC §1 for a C×H×W input.</summary>
    public static Sequential ControlModel(ComputeDevice device, int channels, int h, int w) => new(device,
        new Conv2d(device, channels, 100, 3, 1, 1), new ReLU(device),
        new Conv2d(device, 100, 100, 3, 1, 1), new ReLU(device),
        new Conv2d(device, 100, 100, 2, 2, 0, bias: false), new ReLU(device),
        new Conv2d(device, 100, 200, 3, 1, 1), new ReLU(device),
        new Conv2d(device, 200, 200, 3, 1, 1), new ReLU(device),
        new Conv2d(device, 200, 200, 2, 2, 0, bias: false), new ReLU(device),
        new Linear(device, 200 * (h / 4) * (w / 4), 10));

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        _model = ControlModel(_device, 1, 28, 28);
        _model.ComputeInputGradient = false;
        Init.Apply(_model, new Rng(1));
        _loss = new LogSoftmaxNllLoss(_device);
        _adam = new Adam(_device, _model.NamedParameters());
        var shape = Shape.Of(Batch, 1, 28, 28);
        var pixels = QuickTiming.Random(shape.Length, 4);
        for (int i = 0; i < pixels.Length; i++)
            pixels[i] = 0.5f + 0.5f * pixels[i];
        _x = _device.Upload(shape, pixels);
        var rng = new Random(5);
        _labels = _device.Upload(Shape.Of(Batch), Enumerable.Range(0, Batch).Select(_ => (float)rng.Next(10)).ToArray());
    }

    /// <summary>Zero the gradients, forward, loss (synchronising on its result), backward, Adam step.</summary>
    [Benchmark]
    public float TrainingStep() => Step(_model, _loss, _adam, _x, _labels);

    public static float Step(Sequential model, LogSoftmaxNllLoss loss, Adam adam, DeviceTensor x, DeviceTensor labels)
    {
        adam.ZeroGrad();
        loss.Forward(model.Forward(x), labels);
        float value = loss.Result().Loss;
        model.Backward(loss.Backward());
        adam.Step();
        x.Device.Synchronize();
        return value;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _x?.Dispose();
        _labels?.Dispose();
        _adam?.Dispose();
        _loss?.Dispose();
        _model?.Dispose();
        _device?.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new RateColumn("images/s", c => (int)c.Parameters["Batch"]));
        }
    }
}
